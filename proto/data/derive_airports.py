#!/usr/bin/env python3
"""Derive proto/data/airports.csv from the airportsdata package's airports.csv.

Usage:
    pip download --no-deps airportsdata -d /tmp/ad
    python3 -m zipfile -e /tmp/ad/airportsdata-*.whl /tmp/ad/x
    python3 proto/data/derive_airports.py /tmp/ad/x/airportsdata/airports.csv \
        > proto/data/airports.csv

Only rows with a three-letter IATA code are kept (the voice front end books
commercial flights, and those need an IATA code). Output columns:

    iata,name,city,country,lat,lon,tz,primary

`primary` is 1 for exactly one airport per spoken city name: the airport a
caller means when they say just "London" or "Paris". The rule:

1. BUSIEST below is a hand-curated list of large passenger airports, ranked
   roughly by annual passengers (from general knowledge, not an official
   table). Within one (city, country), the primary airport is the best ranked
   listed one; if none is listed, the one whose name contains
   "International"; otherwise the first by IATA code.
2. When the same city name (case- and accent-folded) exists in several
   countries, only the city whose chosen airport ranks best is primary for
   that name: a listed airport beats an "International" one, which beats any
   other; ties go to the lower list rank, then the lower IATA code, so the
   output is deterministic.

CITY_OVERRIDES renames the city of a few listed airports whose source row
names the municipality of the airfield ("Mississauga" for Toronto Pearson)
rather than the city a traveller says. That is the only edit to source
values.

Standard library only, so it runs anywhere Python 3.8+ does.
"""

import csv
import sys
import unicodedata

# Ranked, best first. Roughly ordered by passenger traffic; where a city has
# several airports, the order also decides which one "<city>" means (Dulles
# before Reagan for "Washington": the international gateway).
BUSIEST = """
ATL DXB DFW HND LHR DEN IST LAX ORD DEL CDG JFK LAS AMS MIA MAD CAN PVG PEK
MCO CLT FRA SFO ICN SEA EWR BCN SIN PHX IAH BOS CGK HKG BKK MEX MUC FCO DOH
SZX CTU YYZ MSP DTW PHL BOM KUL SYD LGW MNL JED FLL BLR SAW LGA SLC IAD DCA
BWI ORY MAN AYT DUB ZRH CPH OSL ARN VIE LIS PMI NRT KIX TPE MEL GRU BOG LIM
SCL YVR YUL RUH AUH CAI JNB MXP ATH BRU HEL WAW PRG BUD GVA NCE EDI STN OPO
AGP TLV HYD MAA CCU CUN GDL EZE AKL BNE PER SGN HAN DPS CEB KMG XIY CKG HGH
SHA TAO NKG WUH CSX XMN PKX TFU GIG SDU BSB CGH TPA SAN AUS BNA MDW HNL STL
PDX RDU SJC OAK MSY DAL HOU SMF SNA CLE PIT IND CMH MCI SAT LTN LCY BER HAM
DUS STR CGN LYS MRS TLS BGY LIN VCE NAP CTA BLQ BHX BRS GLA KEF RIX TLL VNO
OTP SOF BEG ZAG KBP SVO DME LED VKO ADB ESB LCA MLA TFS LPA ALC VLC SVQ FAO
IBZ HER SKG KWI BAH MCT AMM BEY MFM CJU GMP PUS FUK CTS OKA ITM KHH PEN HKT
CNX DMK CMB KTM DAC ISB KHI LHE COK GOI AMD PNQ CPT DUR LOS ADD NBO CMN RAK
ALG TUN ACC DAR YYC YEG YOW PTY SJU HAV PUJ MBJ NAS UIO GYE MVD ASU
""".split()

CITY_OVERRIDES = {
    "IST": "Istanbul",
    "DFW": "Dallas",
    "YYZ": "Toronto",
    "YVR": "Vancouver",
    "YUL": "Montreal",
    "EZE": "Buenos Aires",
    "DPS": "Denpasar",
    "CEB": "Cebu",
    "XIY": "Xi'an",
    "TFU": "Chengdu",
    "MFM": "Macau",
    "CTS": "Sapporo",
    "KHH": "Kaohsiung",
    "TLS": "Toulouse",
    "VCE": "Venice",
    "NAP": "Naples",
    "BEG": "Belgrade",
    "SVQ": "Seville",
    "MLA": "Valletta",
    "TFS": "Tenerife",
    "LPA": "Gran Canaria",
    "RDU": "Raleigh",
    "PTY": "Panama City",
    "GOI": "Goa",
    "COK": "Kochi",
    "FRA": "Frankfurt",
    "LED": "Saint Petersburg",
    "CJU": "Jeju",
}

# Letters NFKD does not decompose; must match fold_accents in
# proto/src/airports.rs so both sides agree on what "the same name" is.
SPECIAL_FOLDS = {
    "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d",
    "ð": "d", "þ": "th", "ı": "i",
}


def fold(name):
    """The lookup key of a city name: what `normalize_name` in
    proto/src/airports.rs computes. Lowercase, accents folded, apostrophes
    dropped ("Xi'an" -> "xian"), other punctuation turned into spaces
    ("St. Louis" -> "st louis")."""
    out = []
    for ch in name.lower():
        if ch in SPECIAL_FOLDS:
            out.append(SPECIAL_FOLDS[ch])
            continue
        for d in unicodedata.normalize("NFKD", ch):
            if unicodedata.combining(d):
                continue
            if d in "'\u2019\u2018\u02bc":
                continue
            out.append(d if d.isalnum() else " ")
    return " ".join("".join(out).split())


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    if len(set(BUSIEST)) != len(BUSIEST):
        dupes = sorted({c for c in BUSIEST if BUSIEST.count(c) > 1})
        raise SystemExit(f"duplicate codes in BUSIEST: {dupes}")
    rank = {code: i for i, code in enumerate(BUSIEST)}

    rows = []
    with open(argv[1], newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            iata = r["iata"].strip().upper()
            if len(iata) != 3 or not iata.isalpha():
                continue
            city = CITY_OVERRIDES.get(iata, r["city"].strip())
            rows.append({
                "iata": iata,
                "name": r["name"].strip(),
                "city": city,
                "country": r["country"].strip().upper(),
                "lat": r["lat"].strip(),
                "lon": r["lon"].strip(),
                "tz": r["tz"].strip(),
            })

    known = {r["iata"] for r in rows}
    missing = [c for c in BUSIEST if c not in known]
    if missing:
        sys.stderr.write(f"warning: listed codes not in source: {missing}\n")

    def score(r):
        # Lower is better: (tier, list rank, code).
        if r["iata"] in rank:
            return (0, rank[r["iata"]], r["iata"])
        if "international" in r["name"].lower():
            return (1, 0, r["iata"])
        return (2, 0, r["iata"])

    # Best airport of each (city, country).
    best_in_city = {}
    for r in rows:
        if not r["city"]:
            continue
        key = (fold(r["city"]), r["country"])
        cur = best_in_city.get(key)
        if cur is None or score(r) < score(cur):
            best_in_city[key] = r

    # Best (city, country) for each spoken city name.
    best_for_name = {}
    for (name, _country), r in best_in_city.items():
        if not name:
            continue
        cur = best_for_name.get(name)
        if cur is None or score(r) < score(cur):
            best_for_name[name] = r
    primary = {r["iata"] for r in best_for_name.values()}

    rows.sort(key=lambda r: r["iata"])
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["iata", "name", "city", "country", "lat", "lon", "tz", "primary"])
    for r in rows:
        w.writerow([
            r["iata"], r["name"], r["city"], r["country"], r["lat"], r["lon"],
            r["tz"], "1" if r["iata"] in primary else "0",
        ])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
