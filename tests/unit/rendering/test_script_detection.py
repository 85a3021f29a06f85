"""The language and direction a résumé's text calls for (`language: auto`)."""

# ruff: noqa: RUF001  (résumé text in Cyrillic and other scripts is the point)

import pytest

from pdftext import load
from vitae.rendering.scripts import detect_direction, detect_language

SCRIPTS = ["ar", "el", "he", "hi", "ja", "ko", "ru", "zh"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_language_and_direction_are_detected(script: str):
    resume = load(script)

    assert detect_language(resume) == script
    expected = "rtl" if script in {"ar", "he"} else "ltr"
    assert detect_direction("en", detect_language(resume)) == expected


def test_detection_ignores_a_few_foreign_letters():
    resume = {"basics": {"name": "王小明 (Wang Xiaoming)", "summary": "Backend engineer " * 20}}
    assert detect_language(resume) == "en"
    assert detect_language({}) == "en"
    assert detect_language({"basics": {"summary": "Я працюю інженером у Києві"}}) == "uk"
