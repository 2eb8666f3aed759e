"""The monitor's knobs, from the ``VIGIL_MONITOR_*`` settings (see vigil/settings.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streams.monitoring.exceptions import MonitoringError
from vigil.settings import VigilSettings


@dataclass(frozen=True)
class MonitorConfig:
    monitor: str
    window_size: int = 500
    window_s: float = 300.0
    min_window_rows: int = 100
    reference: str = "baseline"
    reference_rows: int = 2500
    train_path: Path = Path("train.jsonl")
    resamples: int = 40
    margin: float = 1.25
    min_columns: int = 2
    raise_after: int = 2
    clear_after: int = 3
    text_drift: bool = True
    alert_samples: int = 5
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str = ""
    bias_attributes: tuple[str, ...] = ()
    bias_windows: int = 5
    bias_alpha: float = 0.001
    bias_min_rows: int = 50
    bias_ratio: float = 0.8
    probe_share: float = 0.0
    probe_timeout_s: float = 600.0
    html_rows: int = 2000
    console_url: str = "http://127.0.0.1:8501"

    @property
    def calibration_rows(self) -> int:
        """Rows of the windows thresholds are calibrated for (time-only: a fifth of the ref)."""
        if self.window_size > 0:
            return self.window_size
        return max(self.min_window_rows, self.reference_rows // 5)

    def validate(self) -> None:
        if self.reference_rows < 2 * self.calibration_rows:
            raise MonitoringError(
                f"monitor_reference_rows ({self.reference_rows}) must be at least twice the "
                f"window size ({self.calibration_rows}); five times or more is better"
            )

    @classmethod
    def from_settings(cls, s: VigilSettings) -> MonitorConfig:
        return cls(
            monitor=s.monitor_app_id,
            window_size=s.monitor_window_size,
            window_s=s.monitor_window_s,
            min_window_rows=s.monitor_min_window_rows,
            reference=s.monitor_reference,
            reference_rows=s.monitor_reference_rows,
            train_path=s.gsm8k_train_path,
            resamples=s.monitor_calibration_resamples,
            margin=s.monitor_threshold_margin,
            min_columns=s.monitor_drift_min_columns,
            raise_after=s.monitor_raise_after,
            clear_after=s.monitor_clear_after,
            text_drift=s.monitor_text_drift,
            alert_samples=s.monitor_alert_samples,
            webhook_urls=tuple(s.monitor_webhook_urls),
            webhook_secret=s.monitor_webhook_secret,
            bias_attributes=tuple(s.monitor_bias_attributes),
            bias_windows=s.monitor_bias_windows,
            bias_alpha=s.monitor_bias_alpha,
            bias_min_rows=s.monitor_bias_min_rows,
            bias_ratio=s.monitor_bias_ratio,
            probe_share=s.monitor_probe_share,
            probe_timeout_s=s.monitor_probe_timeout_s,
            html_rows=s.monitor_html_rows,
            console_url=f"http://{s.console_address}:{s.console_port}",
        )
