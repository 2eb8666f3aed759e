"""Step-level verification of a solution by a verifier model (a critic or a process reward
model) served on Triton."""
