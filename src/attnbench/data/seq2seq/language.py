"""Real-language pairs generated offline from PyPI packages (no wheel ships a parallel corpus).

* ``numbers``: a list of ``length`` numbers written out in words → the same numbers in digits, e.g.
  ``forty-two; seven`` → ``42;7``. ``engine=num2words`` (``num2words``, ~50 languages) or ``rbnf``
  (``unicode-rbnf``, CLDR's rule-based spell-out, ~90 locales). Each number first draws its digit
  count uniformly in 1..``max_digits``, so short and long numbers are equally common.
* ``dates``: a list of ``length`` dates written in a CLDR format of one locale (``babel``) → ISO 8601,
  e.g. ``7. März 2021`` → ``2021-03-07``. Only formats that name the month and keep a four-digit year
  are offered (``long``, ``full``): numeric formats such as 3/7/21 are ambiguous without the locale.

Items are joined by ``"; "`` in the source and ``";"`` in the target.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from num2words import CONVERTER_CLASSES, num2words
from unicode_rbnf import RbnfEngine

from attnbench.data.seq2seq.corpus import DataError

ENGINES = ("num2words", "rbnf")
DATE_FORMATS = ("long", "full")
AMBIGUOUS_FORMATS = ("short", "medium")
SOURCE_SEPARATOR, TARGET_SEPARATOR = "; ", ";"
PROBE_DATE = dt.date(2021, 3, 7)


def _rbnf(lang: str, engines: dict[str, Any]) -> RbnfEngine:
    if lang not in engines:
        try:
            engines[lang] = RbnfEngine.for_language(lang)
        except Exception as err:  # unicode-rbnf raises several types for an unknown language
            raise DataError(
                f"data.generate.languages: unicode-rbnf has no spell-out rules for {lang!r} "
                f"({type(err).__name__}). Fix: use another language or engine=num2words"
            ) from None
    return engines[lang]


def spell_number(n: int, lang: str, engine: str, engines: dict[str, Any]) -> str:
    """``n`` in words in language ``lang``; ``engines`` caches the rbnf rule sets between calls."""
    if engine == "num2words":
        return num2words(n, lang=lang)
    return _rbnf(lang, engines).format_number(n).text


def check_numbers(cfg: dict[str, Any]) -> None:
    """A :class:`DataError` for an unknown engine or a language the engine does not spell."""
    if cfg["engine"] not in ENGINES:
        raise DataError(f"data.generate.engine={cfg['engine']!r}; use one of {list(ENGINES)}")
    if not cfg["languages"]:
        raise DataError("data.generate.languages is empty. Fix: name at least one language, e.g. [en]")
    for lang in cfg["languages"]:
        if cfg["engine"] == "num2words" and lang not in CONVERTER_CLASSES:
            raise DataError(
                f"data.generate.languages: num2words does not spell {lang!r}; it spells "
                f"{sorted(CONVERTER_CLASSES)}. Fix: pick one of them or engine=rbnf"
            )
        if cfg["engine"] == "rbnf":
            _rbnf(lang, {})


def numbers_pair(
    rng: np.random.Generator, length: int, cfg: dict[str, Any], engines: dict[str, Any]
) -> tuple[str, str]:
    """(``length`` numbers in words of one language, the same in digits)."""
    lang = cfg["languages"][int(rng.integers(len(cfg["languages"])))]
    digits = rng.integers(1, cfg["max_digits"] + 1, size=length)
    numbers = [int(rng.integers(0 if d == 1 else 10 ** (d - 1), 10**d)) for d in digits.tolist()]
    words = [spell_number(n, lang, cfg["engine"], engines) for n in numbers]
    return SOURCE_SEPARATOR.join(words), TARGET_SEPARATOR.join(map(str, numbers))


def check_dates(cfg: dict[str, Any]) -> None:
    """A :class:`DataError` for an ambiguous or unknown format, an unknown locale, a locale whose
    format does not show the year in four ASCII digits, or a bad year range."""
    for fmt in cfg["formats"]:
        if fmt in AMBIGUOUS_FORMATS:
            raise DataError(
                f"data.generate.formats: {fmt!r} is numeric in many locales (3/7/21), ambiguous "
                f"without the locale. Fix: use {list(DATE_FORMATS)}"
            )
        if fmt not in DATE_FORMATS:
            raise DataError(f"data.generate.formats: {fmt!r} is unknown; use {list(DATE_FORMATS)}")
    first, last = cfg["years"]
    if not 1000 <= first <= last <= 9999:
        raise DataError(f"data.generate.years={cfg['years']!r}: give [first, last] four-digit years, first <= last")
    for loc in cfg["locales"]:
        try:
            Locale.parse(loc)
        except (UnknownLocaleError, ValueError):
            raise DataError(f"data.generate.locales: babel does not know locale {loc!r}") from None
        for fmt in cfg["formats"]:
            if "2021" not in format_date(PROBE_DATE, fmt, locale=loc):
                raise DataError(
                    f"data.generate.locales: {loc!r} writes the {fmt} format without a four-digit "
                    "ASCII year. Fix: leave that locale out"
                )


def dates_pair(rng: np.random.Generator, length: int, cfg: dict[str, Any], engines: dict[str, Any]) -> tuple[str, str]:
    """(``length`` dates in one locale, each in a random allowed format; the same in ISO 8601)."""
    loc = cfg["locales"][int(rng.integers(len(cfg["locales"])))]
    first = dt.date(cfg["years"][0], 1, 1).toordinal()
    last = dt.date(cfg["years"][1], 12, 31).toordinal()
    dates = [dt.date.fromordinal(int(d)) for d in rng.integers(first, last + 1, size=length).tolist()]
    formats = [cfg["formats"][int(i)] for i in rng.integers(len(cfg["formats"]), size=length).tolist()]
    words = [format_date(d, f, locale=loc) for d, f in zip(dates, formats, strict=True)]
    return SOURCE_SEPARATOR.join(words), TARGET_SEPARATOR.join(d.isoformat() for d in dates)
