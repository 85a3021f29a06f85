"""JSON Resume schema v1.x as msgspec Structs, used to validate a résumé's ``content``.

Every field is optional and unknown fields are accepted, as the schema allows; a value of the
wrong type is refused with its path. Dates stay strings (the schema allows partial ISO dates).
"""

from __future__ import annotations

import msgspec

type Str = str | None


class _Part(msgspec.Struct, omit_defaults=True, rename="camel"):
    """A section entry; unknown fields pass (``forbid_unknown_fields`` stays off)."""


class Location(_Part):
    """Where the person is."""

    address: Str = None
    postal_code: Str = None
    city: Str = None
    country_code: Str = None
    region: Str = None


class Profile(_Part):
    """A social or professional network profile."""

    network: Str = None
    username: Str = None
    url: Str = None


class Basics(_Part):
    """Name, contact and summary."""

    name: Str = None
    label: Str = None
    image: Str = None
    email: Str = None
    phone: Str = None
    url: Str = None
    summary: Str = None
    location: Location | None = None
    profiles: list[Profile] | None = None


class Work(_Part):
    """A job."""

    name: Str = None
    location: Str = None
    description: Str = None
    position: Str = None
    url: Str = None
    start_date: Str = None
    end_date: Str = None
    summary: Str = None
    highlights: list[str] | None = None


class Volunteer(_Part):
    """Volunteering."""

    organization: Str = None
    position: Str = None
    url: Str = None
    start_date: Str = None
    end_date: Str = None
    summary: Str = None
    highlights: list[str] | None = None


class Education(_Part):
    """A course of study."""

    institution: Str = None
    url: Str = None
    area: Str = None
    study_type: Str = None
    start_date: Str = None
    end_date: Str = None
    score: Str = None
    courses: list[str] | None = None


class Award(_Part):
    """An award."""

    title: Str = None
    date: Str = None
    awarder: Str = None
    summary: Str = None


class Certificate(_Part):
    """A certificate."""

    name: Str = None
    date: Str = None
    url: Str = None
    issuer: Str = None


class Publication(_Part):
    """A publication."""

    name: Str = None
    publisher: Str = None
    release_date: Str = None
    url: Str = None
    summary: Str = None


class Skill(_Part):
    """A skill with its level and keywords."""

    name: Str = None
    level: Str = None
    keywords: list[str] | None = None


class Language(_Part):
    """A spoken language."""

    language: Str = None
    fluency: Str = None


class Interest(_Part):
    """An interest."""

    name: Str = None
    keywords: list[str] | None = None


class Reference(_Part):
    """A reference."""

    name: Str = None
    reference: Str = None


class Project(_Part):
    """A project."""

    name: Str = None
    description: Str = None
    highlights: list[str] | None = None
    keywords: list[str] | None = None
    start_date: Str = None
    end_date: Str = None
    url: Str = None
    roles: list[str] | None = None
    entity: Str = None
    type: Str = None


class Meta(_Part):
    """Document metadata."""

    canonical: Str = None
    version: Str = None
    last_modified: Str = None


class JsonResume(_Part):
    """A JSON Resume document (https://jsonresume.org/schema)."""

    basics: Basics | None = None
    work: list[Work] | None = None
    volunteer: list[Volunteer] | None = None
    education: list[Education] | None = None
    awards: list[Award] | None = None
    certificates: list[Certificate] | None = None
    publications: list[Publication] | None = None
    skills: list[Skill] | None = None
    languages: list[Language] | None = None
    interests: list[Interest] | None = None
    references: list[Reference] | None = None
    projects: list[Project] | None = None
    meta: Meta | None = None
