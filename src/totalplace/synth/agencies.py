"""Anytown's agencies and the layout of each one's person-record extract.

Each agency writes its own column names, date format, identifier scheme, sex coding, file
format and encoding, as real extracts do. Only health and social care hold NHS numbers.
The activity half of the generator uses the same agency ids for its event and spend files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

IdScheme = Literal["prefix_digits", "pnc", "numeric", "guid", "crn", "upn"]


@dataclass(frozen=True)
class AgencySpec:
    """One agency and how its person extract looks.

    ``cols`` maps canonical names (source_id, nhs_number, given_name, middle_names,
    family_name, dob, sex, postcode, address, uprn) to the agency's own column names; a
    canonical name absent from ``cols`` is not in the extract. ``dob_format`` is the strptime
    format the dates are written in (None for a real date column in Parquet).
    """

    id: str
    name: str
    sector: str
    path: str
    cols: dict[str, str]
    dob_format: str | None
    id_scheme: IdScheme
    id_prefix: str = ""
    id_digits: int = 7
    sex_codes: dict[str, str] = field(default_factory=lambda: {"F": "F", "M": "M"})
    nhs_coverage: float = 0.0  # share of records carrying an NHS number
    nhs_spaced: bool = False  # written as '943 476 5919'
    duplicate_rate: float = 0.02  # share of people with a second record in this agency
    encoding: str = "utf-8"
    delimiter: str = ","
    upper_names: bool = False  # the system stores names in capitals

    @property
    def format(self) -> Literal["csv", "parquet", "xlsx"]:
        return (
            "parquet"
            if self.path.endswith(".parquet")
            else "xlsx"
            if self.path.endswith(".xlsx")
            else "csv"
        )


AGENCIES: tuple[AgencySpec, ...] = (
    AgencySpec(
        "acute",
        "Anytown Hospitals NHS Foundation Trust",
        "health",
        "acute/patients.csv",
        {
            "source_id": "PatientID",
            "nhs_number": "NHSNo",
            "given_name": "Forename",
            "middle_names": "MiddleNames",
            "family_name": "Surname",
            "dob": "DateOfBirth",
            "sex": "Gender",
            "address": "Address1",
            "postcode": "PostCode",
        },
        "%d/%m/%Y",
        "prefix_digits",
        "RXH",
        7,
        {"F": "2", "M": "1", "U": "9"},
        nhs_coverage=0.93,
        nhs_spaced=True,
        duplicate_rate=0.035,
    ),
    AgencySpec(
        "mental_health",
        "Anytown and District Mental Health NHS Trust",
        "mental_health",
        "mental_health/clients.parquet",
        {
            "source_id": "client_ref",
            "nhs_number": "nhs_number",
            "given_name": "first_name",
            "family_name": "last_name",
            "dob": "date_of_birth",
            "sex": "gender",
            "address": "address_line_1",
            "postcode": "postcode",
        },
        None,
        "prefix_digits",
        "MH-",
        6,
        {"F": "Female", "M": "Male", "U": "Not known"},
        nhs_coverage=0.88,
        duplicate_rate=0.02,
    ),
    AgencySpec(
        "adult_social_care",
        "Anytown Council Adult Social Care",
        "social_care",
        "adult_social_care/asc_people.xlsx",
        {
            "source_id": "Person ID",
            "nhs_number": "NHS Number",
            "given_name": "First Name",
            "middle_names": "Middle Name",
            "family_name": "Last Name",
            "dob": "Date of Birth",
            "sex": "Gender",
            "address": "Address",
            "postcode": "Post Code",
        },
        "%d-%b-%Y",
        "numeric",
        "",
        7,
        {"F": "Female", "M": "Male", "U": "Unknown"},
        nhs_coverage=0.75,
        duplicate_rate=0.02,
    ),
    AgencySpec(
        "childrens_social_care",
        "Anytown Council Children's Services",
        "children",
        "childrens_social_care/children.csv",
        {
            "source_id": "ChildID",
            "nhs_number": "NHSNumber",
            "given_name": "Forename",
            "family_name": "Surname",
            "dob": "DOB",
            "sex": "Sex",
            "address": "Address",
            "postcode": "Postcode",
        },
        "%Y-%m-%d",
        "prefix_digits",
        "CSC",
        6,
        {"F": "F", "M": "M", "U": "U"},
        nhs_coverage=0.60,
        duplicate_rate=0.015,
    ),
    AgencySpec(
        "police",
        "Anytown Constabulary",
        "police",
        "police/nominals.csv",
        {
            "source_id": "Nominal Ref",
            "given_name": "Forename(s)",
            "family_name": "Surname",
            "dob": "D.O.B.",
            "sex": "Sex",
            "address": "Home Address",
            "postcode": "Postcode",
        },
        "%d.%m.%Y",
        "pnc",
        "PNC-",
        5,
        {"F": "Female", "M": "Male", "U": "Unknown"},
        duplicate_rate=0.045,
        encoding="cp1252",
        upper_names=True,
    ),
    AgencySpec(
        "housing",
        "Anytown Council Housing Options",
        "housing",
        "housing/applicants.csv",
        {
            "source_id": "app_no",
            "given_name": "fname",
            "family_name": "sname",
            "dob": "dob",
            "sex": "gender",
            "address": "addr",
            "postcode": "pcode",
            "uprn": "uprn",
        },
        "%m/%d/%Y",
        "prefix_digits",
        "H",
        7,
        {"F": "f", "M": "m", "U": ""},
        duplicate_rate=0.02,
    ),
    AgencySpec(
        "dwp",
        "Department for Work and Pensions (Anytown Jobcentre)",
        "welfare",
        "dwp/claimants.csv",
        {
            "source_id": "CLAIMANT_REF",
            "given_name": "FORENAME",
            "family_name": "SURNAME",
            "dob": "DOB",
            "sex": "SEX",
            "address": "ADDRESS_LINE_1",
            "postcode": "POSTCODE",
        },
        "%Y%m%d",
        "prefix_digits",
        "CLM",
        8,
        {"F": "F", "M": "M", "U": "U"},
        duplicate_rate=0.006,
        upper_names=True,
    ),
    AgencySpec(
        "probation",
        "Probation Service (Anytown delivery unit)",
        "justice",
        "probation/cases.csv",
        {
            "source_id": "CRN",
            "given_name": "FIRST_NAME",
            "family_name": "SURNAME",
            "dob": "DATE_OF_BIRTH",
            "sex": "GENDER",
            "address": "ADDRESS",
            "postcode": "POSTCODE",
        },
        "%d/%m/%Y",
        "crn",
        "",
        6,
        {"F": "Female", "M": "Male", "U": "Not Specified"},
        duplicate_rate=0.01,
        delimiter=";",
    ),
    AgencySpec(
        "substance",
        "Anytown Recovery Service (drug and alcohol)",
        "public_health",
        "substance/clients.csv",
        {
            "source_id": "Client ID",
            "given_name": "First name",
            "family_name": "Surname",
            "dob": "Date of birth",
            "sex": "Sex",
            "postcode": "Postcode",
        },
        "%d %B %Y",
        "guid",
        "",
        0,
        {"F": "Female", "M": "Male", "U": "Other"},
        duplicate_rate=0.03,
    ),
    AgencySpec(
        "schools",
        "Anytown Schools (education management system)",
        "education",
        "schools/pupils.csv",
        {
            "source_id": "UPN",
            "given_name": "Legal Forename",
            "family_name": "Legal Surname",
            "dob": "Date Of Birth",
            "sex": "Gender",
            "address": "Address Line 1",
            "postcode": "Post Code",
        },
        "%d/%m/%Y",
        "upn",
        "",
        12,
        {"F": "F", "M": "M", "U": "U"},
        duplicate_rate=0.005,
    ),
    AgencySpec(
        "council_contact",
        "Anytown Council Customer Services",
        "council",
        "council_contact/customers.csv",
        {
            "source_id": "CustomerNo",
            "given_name": "FirstName",
            "family_name": "LastName",
            "dob": "DateOfBirth",
            "address": "AddressLine1",
            "postcode": "Postcode",
        },
        "%Y/%m/%d",
        "numeric",
        "",
        8,
        duplicate_rate=0.05,
    ),
)

AGENCY_IDS: tuple[str, ...] = tuple(a.id for a in AGENCIES)


def agency(agency_id: str) -> AgencySpec:
    """The spec of one agency by id."""
    for a in AGENCIES:
        if a.id == agency_id:
            return a
    raise KeyError(f"no agency {agency_id!r}; agencies: {', '.join(AGENCY_IDS)}")
