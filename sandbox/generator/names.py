"""Client names, spelled differently in each system the way real ones are.

ConnectWise holds the legal name ("Acme Dental, LLC"), QuickBooks the
bookkeeper's spelling ("Acme Dental LLC", "&" sometimes written "and"),
NinjaOne the technicians' shorthand ("ACME Dental"). All three normalize to
the same key with `normalize_name` (case, punctuation, &/and, legal
suffixes), which is the rule METRICS.md §5 asks the warehouse to apply.
Names are chosen so that no two clients share a normalized key.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

LEGAL_SUFFIXES = {"llc", "inc", "corp", "co", "ltd", "pllc"}

PLACES = [
    "Cedar", "Lakeside", "Riverbend", "Oak Street", "Maple Grove", "Pinecrest", "Harbor Point",
    "Northwind", "Granite", "Prairie", "Willow Creek", "Ironwood", "Silver Lake", "Redstone",
    "Brookside", "Meadowbrook", "Stonegate", "Evergreen", "Highland", "Clearwater", "Fox Valley",
    "Heartland", "Lakeshore", "Riverside", "Westfield", "Eastgate", "Hillcrest", "Sunrise",
    "Bluestem", "Cornerstone", "Keystone", "Liberty", "Pioneer", "Frontier", "Copper Creek",
    "Elmwood", "Birchwood", "Aspen", "Sycamore", "Magnolia", "Hawthorne", "Juniper", "Ridgeview",
    "Parkside", "Bayview", "Crestwood", "Glenview", "Trailhead", "Lantern", "Beacon", "Anchor",
    "Compass", "Cardinal", "Bluebird", "Kestrel", "Falcon Ridge", "Deer Park", "Mill Creek",
    "Stone Bridge", "Twin Oaks", "Three Rivers", "Lone Pine", "Fairview", "Green Valley",
]  # fmt: skip
TRADES = [
    "Dental", "Family Medicine", "Law Group", "CPAs", "Accounting", "Insurance Agency", "Realty",
    "Construction", "Logistics", "Manufacturing", "Engineering", "Architects", "Credit Union",
    "Chiropractic", "Orthodontics", "Auto Group", "Landscaping", "Property Management",
    "Community Church", "Foundation", "Electric", "Plumbing", "Heating and Cooling", "Pharmacy",
    "Physical Therapy", "Eye Care", "Brewing", "Financial Advisors", "Marine", "Foods",
    "Printing", "Title Services",
]  # fmt: skip
PARTNERS = [
    "Smith & Jones", "Miller & Hayes", "Garcia & Patel", "Nguyen & Cole", "Baker & Ross",
    "Hughes & Lane", "Carter & Webb", "Fischer & Stone", "Reyes & Brandt", "Walsh & Kim",
]  # fmt: skip
PARTNER_TRADES = ["Law Group", "CPAs", "Architects", "Accounting", "Financial Advisors"]
SUFFIXES = ["LLC", "LLC", "LLC", "LLC", "Inc.", "Inc.", "Inc.", "Corp.", "Co.", "Ltd.", None, None]


def normalize_name(name: str) -> str:
    """The matching key METRICS.md §5 describes (the sandbox's own reference)."""
    text = name.lower().replace("&", " and ")
    tokens = re.sub(r"[^a-z0-9]+", " ", text).split()
    while tokens and tokens[-1] in LEGAL_SUFFIXES:
        tokens.pop()
    return " ".join(tokens)


@dataclass(frozen=True)
class ClientNames:
    cw: str  # ConnectWise company name
    identifier: str  # ConnectWise company identifier
    qbo: str  # QuickBooks customer DisplayName
    ninja: str  # NinjaOne organization name
    abbr: str  # hostname prefix


def _identifier(base: str) -> str:
    words = re.sub(r"[^A-Za-z0-9 ]+", " ", base.replace("&", " And ")).split()
    return "".join(w[:1].upper() + w[1:] for w in words)[:25]


def _variants(base: str, suffix: str | None, rng: random.Random) -> tuple[str, str, str]:
    cw = f"{base}, {suffix}" if suffix else base
    qbo_base = base.replace("&", "and") if "&" in base and rng.random() < 0.5 else base
    qbo = f"{qbo_base} {suffix.rstrip('.')}" if suffix else qbo_base
    words = base.split()
    roll = rng.random()
    if roll < 0.35:
        words[0] = words[0].upper()
    elif roll < 0.45:
        words = [w.upper() for w in words]
    ninja = " ".join(words)
    if "&" in ninja and rng.random() < 0.5:
        ninja = ninja.replace("&", "and")
    if ninja == cw:  # never spelled the same everywhere: technicians abbreviate
        ninja = " ".join([words[0].upper(), *words[1:]])
        if ninja == cw:
            ninja = cw.upper()
    return cw, qbo, ninja


def client_names(count: int, rng: random.Random) -> list[ClientNames]:
    """`count` distinct client names; the first is always Acme Dental."""
    out = [ClientNames("Acme Dental, LLC", "AcmeDental", "Acme Dental LLC", "ACME Dental", "ACME")]
    used_keys = {
        normalize_name(out[0].cw),
        "blue ridge veterinary clinic",
        "summit prospect partners",
    }
    used_abbr = {"ACME", "BRV", "ENER"}
    used_ident = {"AcmeDental", "BlueRidgeVet", "Enersystems", "SummitProspect", "Pax8"}
    while len(out) < count:
        if rng.random() < 0.15:
            base = f"{rng.choice(PARTNERS)} {rng.choice(PARTNER_TRADES)}"
            suffix = rng.choice(["PLLC", "PLLC", "LLC", None])
        else:
            base = f"{rng.choice(PLACES)} {rng.choice(TRADES)}"
            suffix = rng.choice(SUFFIXES)
        key = normalize_name(base)
        if key in used_keys:
            continue
        used_keys.add(key)
        cw, qbo, ninja = _variants(base, suffix, rng)
        letters = re.sub(r"[^A-Z]", "", base.upper())
        abbr = letters[:4]
        n = 2
        while abbr in used_abbr:
            abbr = f"{letters[:3]}{n}"
            n += 1
        used_abbr.add(abbr)
        ident = _identifier(base)
        n = 2
        while ident in used_ident:
            ident = f"{_identifier(base)[:23]}{n}"
            n += 1
        used_ident.add(ident)
        out.append(ClientNames(cw, ident, qbo, ninja, abbr))
    return out
