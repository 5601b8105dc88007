"""How money and units read, in one place: the list, the figures, the charts, the top tables
and the detail page all format a cost with `money`, so the same cost reads the same
everywhere.

The rule for a cost: the dollar sign, digits grouped by three, four decimal places; a
nonzero cost smaller than that shows as many more places as its first two significant
digits need (up to the eight the model stores), so a nonzero cost never reads $0.0000.
"""

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.formats import get_format, number_format
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

CURRENCY = "$"  # costs are stored in USD
PLACES = 4
MAX_PLACES = 8


# {language: (decimal separator, thousand separator, grouping)}: get_format's three
# lookups cost more than the formatting itself (a 90-day chart formats 700 costs).
_SEPARATORS = {}


@receiver(setting_changed)
def _forget_separators(**kwargs):
    _SEPARATORS.clear()


def _separators():
    language = get_language()
    found = _SEPARATORS.get(language)
    if found is None:
        found = _SEPARATORS[language] = (get_format("DECIMAL_SEPARATOR"),
                                         get_format("THOUSAND_SEPARATOR"),
                                         get_format("NUMBER_GROUPING"))
    return found


def grouped(value, places=None) -> str:
    """number_format(value, places, force_grouping=True): the language's separators, its
    digits grouped (by three in each of ours), `places` decimals cut, not rounded."""
    decimal_sep, thousand_sep, grouping = _separators()
    if (grouping != 3 or isinstance(value, bool) or not isinstance(value, (int, Decimal))
            or isinstance(value, Decimal) and not value.is_finite()):
        return number_format(value, places, force_grouping=True)
    if isinstance(value, Decimal) and places is not None:
        if abs(value) < Decimal(1).scaleb(-places):  # as number_format: nothing shown, 0
            value = Decimal(0)
        value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)
    text = f"{value:,f}" if isinstance(value, Decimal) else f"{value:,}"
    if isinstance(value, int) and places:
        text += "." + "0" * places
    if (decimal_sep, thousand_sep) != (".", ","):
        text = text.replace(",", "\0").replace(".", decimal_sep).replace("\0", thousand_sep)
    return text


def _decimal(value):
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None


def money_places(value) -> int:
    """How many decimal places `money` shows for this value."""
    amount = _decimal(value)
    if amount is None or not amount:
        return PLACES
    places = PLACES
    magnitude = abs(amount)
    while places < MAX_PLACES and magnitude < Decimal(1).scaleb(-(places - 1)):
        places += 1
    return places


def money(value) -> str:
    """$1,234.5000, $0.0123, $0.000042; negative as -$1.2000; '' for no value."""
    amount = _decimal(value)
    if amount is None:
        return "" if value in (None, "") else str(value)
    places = money_places(amount)
    rounded = abs(amount).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if amount and not rounded:  # below even the last place shown
        return f"<{CURRENCY}{Decimal(1).scaleb(-MAX_PLACES):.{MAX_PLACES}f}"
    text = grouped(rounded, places)
    return f"{'-' if amount < 0 else ''}{CURRENCY}{text}"


def quota(value) -> str:
    """The gateway's quota points, grouped, with their unit."""
    return _("{n} quota").format(n=grouped(value))


def credits(value) -> str:
    amount = _decimal(value)
    if amount is None:
        return str(value)
    places = 2 if amount == amount.quantize(Decimal("0.01")) else 4
    return _("{n} credits").format(n=grouped(amount, places))


def milliseconds(value) -> str:
    return _("{n} ms").format(n=grouped(value))


def stream(value):
    """Streamed or not: a fact about the call, neither good nor bad."""
    # An f-string, not format_html: a list page shows it in every row.
    label = escape(_("streamed") if value else _("not streamed"))
    return mark_safe(f'<span class="stream-{"yes" if value else "no"}">{label}</span>')


FORMATS = {"money": money, "quota": quota, "credits": credits, "ms": milliseconds,
           "stream": stream}


def _plain_money(value):
    amount = _decimal(value)
    if amount is None:
        return str(value)
    places = money_places(amount)
    rounded = abs(amount).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if amount and not rounded:
        return f"<{CURRENCY}{Decimal(1).scaleb(-MAX_PLACES):.{MAX_PLACES}f}"
    return f"{'-' if amount < 0 else ''}{CURRENCY}{rounded:,.{places}f}"


def _plain_credits(value):
    amount = _decimal(value)
    if amount is None:
        return str(value)
    places = 2 if amount == amount.quantize(Decimal("0.01")) else 4
    return f"{amount:,.{places}f} credits"


# The same units in English without the request's number formats: documents that leave
# the console (log streams) read the same everywhere and cost no locale lookups.
PLAIN_FORMATS = {"money": _plain_money, "quota": lambda value: f"{value:,} quota",
                 "credits": lambda value: _plain_credits(value),
                 "ms": lambda value: f"{value:,} ms",
                 "stream": lambda value: "streamed" if value else "not streamed"}


def display(unit, value, plain=False):
    """`value` as its unit reads (see FORMATS; `plain`: PLAIN_FORMATS), or None when the
    unit is unknown or the value empty (the caller shows it its usual way)."""
    formatter = (PLAIN_FORMATS if plain else FORMATS).get(unit)
    if formatter is None or value is None or value == "":
        return None
    return formatter(value)
