"""The map of the code: every area goes by one name in pages/, state/, backend/services/ and tests/unit/,
and the sidebar names no area the map lacks."""

from pathlib import Path

from components.navigation import AREAS as SIDEBAR

ROOT = Path(__file__).resolve().parents[2]

# The product's areas, each by its one name (issue 23). Identity's pages are account and admin.
AREAS = ("space", "training", "serving", "assets", "orchestration", "ops", "agents", "knowledge")
# sidebar entries that are not areas of their own: the home page, the serving area's playground, identity's admin page
NOT_AREAS = {"/", "/playground", "/admin"}
DOMAINS = (*AREAS, "identity")


def _module_or_package(folder: Path, name: str) -> bool:
    return (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file()


def test_every_area_has_its_module_under_the_same_name_in_each_layer():
    missing = [
        f"{layer}/{area}"
        for area in AREAS
        for layer in ("pages", "state", "backend/services", "tests/unit")
        if not _module_or_package(ROOT / layer, area)
    ]
    assert not missing, f"each area needs a module or package of its name in every layer: {missing}"


def test_identity_has_its_domain_package_and_tests():
    for layer in ("backend/services", "tests/unit"):
        assert _module_or_package(ROOT / layer, "identity"), layer


def test_the_sidebar_lists_only_areas_on_the_map():
    routes = {area.route for area in SIDEBAR} - NOT_AREAS
    assert routes == {f"/{area}" for area in AREAS}


def test_backend_services_holds_only_domain_packages_and_cross_domain_modules():
    services = ROOT / "backend" / "services"
    packages = sorted(p.name for p in services.iterdir() if (p / "__init__.py").is_file())
    modules = sorted(p.stem for p in services.glob("*.py") if p.stem != "__init__")
    assert packages == sorted(DOMAINS)
    assert modules == ["pipelines", "samples"]  # compositions across domains, above all of them
