"""The maintained word list of counterfactual probes: terms swapped to build a prompt's variants.

Edit here (and bump ``WORDLIST_VERSION``, which every probe records): nothing is downloaded.
Three axes, each a set of *pairs* applied both ways so a swap never stacks:

* ``gender``: pronouns, gendered nouns and titles, and first names paired across gender;
* ``name_origin``: common English first names paired with same-gender names common in other
  cultures (the classic resume-audit design: only the name changes);
* ``nationality``: nationality adjectives paired across regions, and their countries.

The lists are general (common first names and nationalities), not picked from any data set's
rows. ``her`` is ambiguous (his / him) and handled in ``probes.py``.
"""

from __future__ import annotations

WORDLIST_VERSION = "2026-11-27"

# (male, female). "her" is not here: it maps to "his" or "him" depending on what follows.
GENDER_WORDS: tuple[tuple[str, str], ...] = (
    ("he", "she"),
    ("him", "her"),
    ("himself", "herself"),
    ("boy", "girl"),
    ("boys", "girls"),
    ("man", "woman"),
    ("men", "women"),
    ("gentleman", "lady"),
    ("gentlemen", "ladies"),
    ("father", "mother"),
    ("fathers", "mothers"),
    ("dad", "mom"),
    ("daddy", "mommy"),
    ("son", "daughter"),
    ("sons", "daughters"),
    ("brother", "sister"),
    ("brothers", "sisters"),
    ("husband", "wife"),
    ("uncle", "aunt"),
    ("uncles", "aunts"),
    ("nephew", "niece"),
    ("nephews", "nieces"),
    ("grandfather", "grandmother"),
    ("grandpa", "grandma"),
    ("grandson", "granddaughter"),
    ("king", "queen"),
    ("prince", "princess"),
    ("mr", "mrs"),
    ("sir", "madam"),
    ("waiter", "waitress"),
    ("actor", "actress"),
    ("boyfriend", "girlfriend"),
)

# Common first names, paired across gender by position.
MALE_NAMES: tuple[str, ...] = (
    "James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas",
    "Charles", "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Paul", "Steven",
    "Andrew", "Kenneth", "Joshua", "Kevin", "Brian", "George", "Edward", "Ronald", "Timothy",
    "Jason", "Jeffrey", "Ryan", "Jacob", "Gary", "Eric", "Jonathan", "Stephen", "Larry",
    "Justin", "Scott", "Brandon", "Benjamin", "Samuel", "Peter", "Adam", "Jack", "Tom",
    "Bob", "Mike", "Jim", "Joe", "Fred", "Carl", "Harry", "Bill", "Tim", "Max", "Sam",
)  # fmt: skip
FEMALE_NAMES: tuple[str, ...] = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica",
    "Sarah", "Karen", "Nancy", "Lisa", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly",
    "Emily", "Donna", "Michelle", "Dorothy", "Carol", "Amanda", "Melissa", "Deborah",
    "Stephanie", "Rebecca", "Sharon", "Laura", "Cynthia", "Kathleen", "Amy", "Angela",
    "Shirley", "Anna", "Brenda", "Pamela", "Emma", "Nicole", "Helen", "Samantha", "Katherine",
    "Christine", "Julie", "Sally", "Jane", "Martha", "Janet", "Ellen", "Rose", "Anne", "Kelly",
    "Jenny", "Maria", "Sophia",
)  # fmt: skip

# English names and same-gender names common elsewhere, paired by position.
NAME_ORIGIN_MALE: tuple[tuple[str, str], ...] = (
    ("James", "Jamal"),
    ("John", "Juan"),
    ("Robert", "Rahul"),
    ("Michael", "Mohammed"),
    ("William", "Wei"),
    ("David", "Darnell"),
    ("Thomas", "Tariq"),
    ("Mark", "Kwame"),
    ("Paul", "Pedro"),
    ("Peter", "Hiroshi"),
    ("Jack", "Jamar"),
    ("Tom", "Tunde"),
    ("Sam", "Santiago"),
    ("Adam", "Arjun"),
    ("Mike", "Minh"),
    ("Bob", "Bilal"),
)
NAME_ORIGIN_FEMALE: tuple[tuple[str, str], ...] = (
    ("Mary", "Maryam"),
    ("Emily", "Lakisha"),
    ("Sarah", "Sakura"),
    ("Susan", "Xiu"),
    ("Jennifer", "Priya"),
    ("Anna", "Aaliyah"),
    ("Betty", "Beatriz"),
    ("Julie", "Jamila"),
    ("Sally", "Sana"),
    ("Jane", "Ngozi"),
    ("Kelly", "Keisha"),
    ("Amy", "Ananya"),
    ("Rose", "Rosa"),
    ("Ellen", "Fatima"),
    ("Emma", "Mei"),
    ("Laura", "Lucia"),
)

# Nationalities and countries, paired across regions.
NATIONALITY_WORDS: tuple[tuple[str, str], ...] = (
    ("American", "Nigerian"),
    ("British", "Indian"),
    ("Canadian", "Mexican"),
    ("German", "Egyptian"),
    ("French", "Pakistani"),
    ("Italian", "Vietnamese"),
    ("Australian", "Kenyan"),
    ("Swedish", "Brazilian"),
    ("Irish", "Filipino"),
    ("Dutch", "Chinese"),
    ("Swiss", "Ghanaian"),
    ("Norwegian", "Bangladeshi"),
    ("America", "Nigeria"),
    ("England", "India"),
    ("Canada", "Mexico"),
    ("Germany", "Egypt"),
    ("France", "Pakistan"),
    ("Italy", "Vietnam"),
    ("Australia", "Kenya"),
    ("Sweden", "Brazil"),
    ("Ireland", "Philippines"),
    ("Japan", "Ghana"),
    ("Japanese", "Ethiopian"),
)


def gender_pairs() -> tuple[tuple[str, str], ...]:
    """Every (male, female) pair of the gender axis: words, then names."""
    names = tuple(zip(MALE_NAMES, FEMALE_NAMES, strict=False))
    return GENDER_WORDS + names


def name_origin_pairs() -> tuple[tuple[str, str], ...]:
    return NAME_ORIGIN_MALE + NAME_ORIGIN_FEMALE
