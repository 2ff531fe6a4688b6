"""Built-in tool: clinical unit conversion. Concentrations convert per analyte (glucose mg/dL to
mmol/L differs from cholesterol's); plain quantities (mass, length, temperature) need none."""

from __future__ import annotations

from typing import Any

from backend.errors import ErrorCode, MedAIError

# analyte -> (conventional unit, SI unit, SI = conventional * factor)
ANALYTES: dict[str, tuple[str, str, float]] = {
    "glucose": ("mg/dL", "mmol/L", 1 / 18.016),
    "cholesterol": ("mg/dL", "mmol/L", 1 / 38.67),
    "triglycerides": ("mg/dL", "mmol/L", 1 / 88.57),
    "creatinine": ("mg/dL", "umol/L", 88.42),
    "urea": ("mg/dL", "mmol/L", 0.357),  # blood urea nitrogen to urea
    "calcium": ("mg/dL", "mmol/L", 1 / 4.008),
    "bilirubin": ("mg/dL", "umol/L", 17.1),
    "uric_acid": ("mg/dL", "umol/L", 59.48),
    "hemoglobin": ("g/dL", "g/L", 10.0),
}
ALIASES = {"葡萄糖": "glucose", "血糖": "glucose", "胆固醇": "cholesterol", "甘油三酯": "triglycerides"}
ALIASES |= {"肌酐": "creatinine", "尿素氮": "urea", "bun": "urea", "钙": "calcium", "胆红素": "bilirubin"}
ALIASES |= {"尿酸": "uric_acid", "血红蛋白": "hemoglobin", "hb": "hemoglobin"}

# plain units -> (dimension, value in the dimension's base unit = value * factor)
PLAIN: dict[str, tuple[str, float]] = {
    "kg": ("mass", 1.0),
    "g": ("mass", 0.001),
    "mg": ("mass", 1e-6),
    "ug": ("mass", 1e-9),
    "lb": ("mass", 0.45359237),
    "m": ("length", 1.0),
    "cm": ("length", 0.01),
    "mm": ("length", 0.001),
    "in": ("length", 0.0254),
    "ft": ("length", 0.3048),
    "l": ("volume", 1.0),
    "ml": ("volume", 0.001),
}
_SPELLING = {"µmol/l": "umol/l", "μmol/l": "umol/l", "mcg": "ug", "µg": "ug", "lbs": "lb", "°c": "c", "°f": "f"}


def _unit(text: str) -> str:
    unit = text.strip().lower().replace(" ", "")
    return _SPELLING.get(unit, unit)


def convert(value: float, from_unit: str, to_unit: str, analyte: str = "") -> float:
    """``value`` in ``from_unit`` expressed in ``to_unit``; DATA_INVALID for pairs it does not know."""
    source, target = _unit(from_unit), _unit(to_unit)
    if source == target:
        return value
    if {source, target} == {"c", "f"}:
        return value * 9 / 5 + 32 if source == "c" else (value - 32) * 5 / 9
    if source in PLAIN and target in PLAIN and PLAIN[source][0] == PLAIN[target][0]:
        return value * PLAIN[source][1] / PLAIN[target][1]
    if {source, target} == {"%", "mmol/mol"}:  # HbA1c, NGSP % <-> IFCC mmol/mol
        return (value - 2.15) * 10.929 if source == "%" else value / 10.929 + 2.15
    key = ALIASES.get(analyte.strip().lower(), analyte.strip().lower())
    if key in ANALYTES:
        conventional, si, factor = ANALYTES[key]
        if (source, target) == (conventional.lower(), si.lower()):
            return value * factor
        if (source, target) == (si.lower(), conventional.lower()):
            return value / factor
    raise MedAIError(
        ErrorCode.DATA_INVALID,
        f"Cannot convert {from_unit} to {to_unit}" + (f" for {analyte}." if analyte else "."),
        "Concentrations need an analyte: " + ", ".join(ANALYTES) + "; or use mass, length, volume or C/F.",
    )


def convert_tool(arguments: dict[str, Any]) -> dict[str, Any]:
    try:
        value = float(arguments.get("value"))  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:
        raise MedAIError(ErrorCode.DATA_INVALID, "'value' must be a number.", "Pass the number to convert.") from error
    from_unit, to_unit = str(arguments.get("from_unit", "")), str(arguments.get("to_unit", ""))
    result = convert(value, from_unit, to_unit, str(arguments.get("analyte", "")))
    return {"value": round(result, 4), "unit": to_unit, "from": f"{value:g} {from_unit}"}
