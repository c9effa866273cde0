"""Write the Minitown example place (run from anywhere: python examples/minitown/make_minitown.py).

Minitown is hand-made: 30 residents known to four agencies, each with its own column names,
date formats, ID scheme, file format and text encoding; some residents appear in several
agencies with the usual noise (nicknames, typos, swapped day and month, a missing NHS
number), and a few rows are deliberately bad so the rejects table has something in it.
The files are committed; this script documents how they were made and re-creates them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent


def nhs(stem: str) -> str:
    """A 10-digit NHS number with a valid modulus-11 check digit (stems chosen to have one)."""
    while True:  # a stem whose check digit would be 10 has no valid number; take the next
        total = sum(int(d) * w for d, w in zip(stem, range(10, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        if check != 10:
            return stem + str(check)
        stem = str(int(stem) + 1)


# given, family, dob, sex, postcode, address, nhs stem (None: no NHS record)
PEOPLE = [
    ("Robert", "Hughes", "1948-03-12", "M", "MT1 1AA", "1 Mill Lane", "401023405"),
    ("Margaret", "Hughes", "1950-07-30", "F", "MT1 1AA", "1 Mill Lane", "401023410"),
    ("Aisha", "Khan", "1987-11-02", "F", "MT2 3BD", "14 Station Road", "401023415"),
    ("Zain", "Khan", "2012-05-19", "M", "MT2 3BD", "14 Station Road", "401023420"),
    ("Siobhán", "O'Neill", "1979-01-25", "F", "MT3 4CE", "7 Church Street", "401023425"),
    ("Daniel", "Price", "1995-09-09", "M", "MT1 2DF", "Flat 3, 22 High Street", "401023430"),
    ("Chloe", "Price", "2019-02-14", "F", "MT1 2DF", "Flat 3, 22 High Street", "401023435"),
    ("Tomasz", "Nowak", "1983-06-30", "M", "MT4 5EG", "9 Canal Walk", "401023440"),
    ("Grace", "Adeyemi", "1991-12-01", "F", "MT4 6FH", "31 Park View", "401023445"),
    ("William", "Turner", "1938-04-04", "M", "MT3 7GJ", "Rosebank Care Home", "401023450"),
    ("Jessica", "Reid", "2006-08-21", "F", "MT2 8HK", "5 Orchard Close", "401023455"),
    ("Liam", "Reid", "2008-10-11", "M", "MT2 8HK", "5 Orchard Close", "401023460"),
    ("Fatima", "Begum", "1969-03-03", "F", "MT5 9JL", "60 Victoria Terrace", "401023465"),
    ("Connor", "Walsh", "1999-12-31", "M", "MT5 1LN", "No fixed abode", None),
    ("Ellen", "Baker", "1944-02-29", "F", "MT1 3NP", "2 Bridge End", "401023470"),
    ("Ravi", "Patel", "1975-05-05", "M", "MT3 2PQ", "18 Elm Grove", "401023475"),
    ("Priya", "Patel", "1977-07-07", "F", "MT3 2PQ", "18 Elm Grove", "401023480"),
    ("Kyle", "Morgan", "2001-01-15", "M", "MT4 4QR", "Flat 9, Tower House", "401023485"),
    ("Olivia", "Bennett", "1962-10-08", "F", "MT1 4RS", "3 Meadow Way", "401023495"),
    ("Mohammed", "Ali", "1958-01-20", "M", "MT5 2ST", "77 Queen Street", "401023500"),
    ("Sophie", "Clarke", "1993-04-17", "F", "MT2 5TU", "Flat 1, 4 Albert Road", "401023505"),
    ("Jack", "Clarke", "2016-09-03", "M", "MT2 5TU", "Flat 1, 4 Albert Road", "401023510"),
    ("Agnieszka", "Kowalska", "1986-11-29", "F", "MT4 7UW", "12 Foundry Court", "401023515"),
    ("George", "Evans", "1941-06-06", "M", "MT3 8WX", "Oak Lodge", "401023520"),
    ("Ruby", "Evans", "1943-08-14", "F", "MT3 8WX", "Oak Lodge", "401023525"),
    ("Nathan", "Scott", "1989-02-02", "M", "MT1 5XY", "40 Forge Lane", None),
    ("Leah", "Hussain", "2004-12-12", "F", "MT5 3YZ", "9 Brook Street", "401023530"),
    ("Patrick", "Doyle", "1971-03-17", "M", "MT4 9AB", "The Gables, Hill Road", "401023535"),
    ("Mei", "Wong", "1998-07-21", "F", "MT2 6BD", "Flat 6, Riverside", "401023540"),
    ("Callum", "Fraser", "2010-05-30", "M", "MT1 6DE", "21 Heather Drive", "401023545"),
]

# (person index, agency, variant) -- who each agency knows, with the noise each one adds.
ACUTE = [0, 1, 2, 3, 4, 5, 6, 8, 9, 12, 13, 14, 15, 17, 18, 19, 20, 23, 24, 25, 26, 28]
POLICE = [5, 7, 10, 11, 13, 17, 4, 25, 26, 27]
COUNCIL = [0, 1, 3, 5, 6, 9, 10, 11, 13, 14, 16, 17, 20, 21, 23, 24, 28, 29]
HOUSING = [2, 3, 4, 5, 7, 12, 13, 17, 19, 20, 25, 27]

NICK = {"Robert": "Bob", "Daniel": "Dan", "Margaret": "Maggie", "William": "Bill", "Patrick": "Pat"}


def ddmmyyyy(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{d}/{m}/{y}"


def write_acute() -> None:
    d = HERE / "acute"
    d.mkdir(exist_ok=True)
    rows = ["PatientID,NHSNo,Forename,Surname,DateOfBirth,Gender,PostCode,Address"]
    for n, i in enumerate(ACUTE):
        g, f, dob, sex, pc, addr, stem = PEOPLE[i]
        no = nhs(stem) if stem else ""
        no = f"{no[:3]} {no[3:6]} {no[6:]}" if no else ""
        code = {"M": "1", "F": "2"}[sex]
        rows.append(
            f'RX{1001 + n},{no},{g},{f},{ddmmyyyy(dob)},{code},{pc.replace(" ", "")},"{addr}"'
        )
    # Deliberately bad rows: an invalid NHS number (kept, flagged), a dob that is not a
    # date, a duplicate patient ID, a ragged row.
    rows.append('RX2001,401 023 4510,Hannah,Cole,12/04/1990,2,MT2 3BD,"4 Mill Lane"')
    rows.append('RX2002,,Oliver,Stone,31/02/1985,1,MT1 1AA,"8 Mill Lane"')
    rows.append('RX1001,,Robert,Hughes,12/03/1948,1,MT11AA,"1 Mill Lane"')
    rows.append("RX2003,,Amy,Fox,01/01/2000,2,MT1 1AA")
    (d / "patients.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    att = [
        "AttendanceID,PatientID,Department,ArrivalDateTime,DischargeDateTime,PresentingComplaint,Cost"
    ]
    base = dt.datetime(2024, 4, 3, 9, 15)
    k = 0
    for n, i in enumerate(ACUTE):
        for j in range(1 + (i % 3)):
            k += 1
            arr = base + dt.timedelta(days=23 * k % 360, hours=(7 * k) % 11)
            dis = arr + dt.timedelta(hours=3 + k % 5)
            dept = ["ED", "Acute Medicine", "Frailty Unit"][(i + j) % 3]
            what = ["fall at home", "shortness of breath", "chest pain", "abdominal pain"][k % 4]
            att.append(
                f"A{50000 + k},RX{1001 + n},{dept},{arr:%d/%m/%Y %H:%M},{dis:%d/%m/%Y %H:%M},"
                f'{what},"£{180 + 37 * (k % 9):,}.00"'
            )
    att.append("A59001,RX1002,ED,03/05/2024 25:10,03/05/2024 23:00,fall at home,£210.00")
    att.append("A59002,RX1003,ED,04/05/2024 10:00,04/05/2024 12:00,chest pain,-£95.00")
    att.append("A59003,RX1004,ED,05/05/2024 10:00,05/05/2024 12:00,chest pain,tbc")
    (d / "attendances.csv").write_text("\n".join(att) + "\n", encoding="utf-8")


def write_police() -> None:
    d = HERE / "police"
    d.mkdir(exist_ok=True)
    rows = ["PersonRef;FirstName;LastName;DOB;Sex;Postcode"]
    for n, i in enumerate(POLICE):
        g, f, dob, sex, pc, _addr, _stem = PEOPLE[i]
        g = NICK.get(g, g)
        if i == 10:  # day and month swapped
            y, m, dd = dob.split("-")
            dob = f"{y}-{dd}-{m}"
        if i == 7:
            f = "Nowack"  # a typo
        rows.append(f"MP/{24000 + 17 * n};{g};{f.upper()};{dob};{sex};{pc.lower()}")
    rows.append("MP/29999;Unknown;PERSON;1850-06-01;U;")
    (d / "persons.csv").write_bytes(("\r\n".join(rows) + "\r\n").encode("cp1252"))

    inc = ["IncidentNo;PersonRef;Reported;Category;Narrative"]
    for n, i in enumerate(POLICE):
        for j in range(2 if i in (13, 17) else 1):
            when = dt.datetime(2024, 6, 1, 22, 30) + dt.timedelta(
                days=31 * n + 5 * j, minutes=17 * i
            )
            cat = ["Concern for welfare", "Anti-social behaviour", "Missing person", "Domestic"][
                (n + j) % 4
            ]
            inc.append(
                f"INC-{n:03d}-{j};MP/{24000 + 17 * n};{when:%Y-%m-%dT%H:%M:%S};{cat};"
                f'"Caller reports – {cat.lower()}"'
            )
    inc.append(
        'INC-999-0;MP/24000;2024-07-01T10:00:00;Concern for welfare;"unterminated; extra;field";x'
    )
    (d / "incidents.csv").write_bytes(("\r\n".join(inc) + "\r\n").encode("cp1252"))


def write_council() -> None:
    d = HERE / "council"
    d.mkdir(exist_ok=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Clients"
    ws.append(
        ["Client No", "Given Name", "Family Name", "Date of Birth", "Gender", "Post Code", "UPRN"]
    )
    for n, i in enumerate(COUNCIL):
        g, f, dob, sex, pc, _addr, _stem = PEOPLE[i]
        if i == 14:
            g = "Elen"  # a typo
        ws.append(
            [
                f"C-{7000 + 3 * n}",
                g,
                f,
                dt.datetime.fromisoformat(dob),
                sex.lower() + "",
                pc,
                100070000000 + 11 * i,
            ]
        )
    ws.append(["C-9999", "Test", "Client", dt.datetime(2090, 1, 1), "f", "NOT A POSTCODE", "n/a"])
    notes = wb.create_sheet("Notes")
    notes.append(["This workbook was exported from the case management system."])
    wb.save(d / "clients.xlsx")

    ids, clients, services, channels, dates, reasons = [], [], [], [], [], []
    k = 0
    for n, i in enumerate(COUNCIL):
        for j in range(1 + i % 4):
            k += 1
            ids.append(f"CT{k:05d}")
            clients.append(f"C-{7000 + 3 * n}")
            services.append(
                ["Adult Social Care", "Children's Services", "Housing Options", "Revenues"][
                    (i + j) % 4
                ]
            )
            channels.append(["phone", "web", "face to face", "letter"][k % 4])
            dates.append(dt.date(2024, 4, 1) + dt.timedelta(days=(29 * k) % 365))
            reasons.append(
                [
                    "chasing a referral",
                    "new request for help",
                    "asking for an update",
                    "reporting a change",
                ][k % 4]
            )
    ids.append("CT00001")  # a duplicate contact id
    clients.append("C-7000")
    services.append("Revenues")
    channels.append("phone")
    dates.append(dt.date(2024, 9, 1))
    reasons.append("chasing a referral")
    t = pa.table(
        {
            "ContactID": ids,
            "ClientNo": clients,
            "Service": services,
            "Channel": channels,
            "ContactDate": pa.array(dates, pa.date32()),
            "Reason": reasons,
        }
    )
    pq.write_table(t, d / "contacts.parquet")

    spend = ["Year,Service,Theme,Category,Amount"]
    for y in ("2023/24", "2024/25"):
        spend += [
            f'{y},Adult Social Care,Older people,front line,"£12,345,678.00"',
            f'{y},Children\'s Services,Early help,front line,"£4,560,000.50"',
            f'{y},Housing Options,Homelessness,front line,"£1,230,400.00"',
            f'{y},Corporate,Back office,support,"£2,100,000.00"',
            f'{y},Corporate,Civic centre,buildings,"£850,000.00"',
        ]
    spend.append('2024/25,Adult Social Care,Older people,front line,"(£12,000.00)"')  # a refund
    spend.append("2024-25,Revenues,Collection,support,twelve thousand")
    (d / "spend.csv").write_text("\n".join(spend) + "\n", encoding="utf-8")


def write_housing() -> None:
    d = HERE / "housing"
    d.mkdir(exist_ok=True)
    rows = ["TenancyRef\tSurname\tForenames\tBorn\tSex\tPostcode\tTenancyStart"]
    for n, i in enumerate(HOUSING):
        g, f, dob, sex, pc, _addr, _stem = PEOPLE[i]
        born = dt.date.fromisoformat(dob)
        if i == 19:
            pc = "MT5"  # only the outward code: kept, postcode set to NULL with a warning
        rows.append(
            f"T{310 + n:05d}\t{f}\t{g}\t{born:%d-%b-%Y}\t{sex}\t{pc}\t{2010 + n}-0{1 + n % 9}-01"
        )
    rows.append(f"T{399:05d}\tGarçon\tZoë\tunknown\tF\tMT1 1AA\t2020-01-01")
    (d / "tenants.tsv").write_bytes(("\n".join(rows) + "\n").encode("latin-1"))


if __name__ == "__main__":
    write_acute()
    write_police()
    write_council()
    write_housing()
