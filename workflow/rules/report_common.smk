# Helpers of the report stage: report-marked outputs of tables and figures, published references.

TABLE_FORMATS = {"html": "HTML", "csv": "CSV", "tex": "LaTeX", "md": "Markdown"}


def table_outputs(name, stem, *, caption, category, subcategory, title):
    """Named outputs <name>_html/_csv/_tex/_md of one table, each marked for the report."""
    return {
        f"{name}_{ext}": report(
            f"{stem}.{ext}",
            caption=caption,
            category=category,
            subcategory=subcategory,
            labels={"name": title, "format": label},
        )
        for ext, label in TABLE_FORMATS.items()
    }


def figure_outputs(stem, *, caption, category, title):
    """Named outputs png and svg of one per-dataset figure, both marked for the report."""
    return {
        ext: report(
            f"{stem}.{ext}",
            caption=caption,
            category=category,
            subcategory="{dataset}",
            labels={"name": title, "format": ext.upper()},
        )
        for ext in ("png", "svg")
    }


def published_references():
    """Per dataset, the entries of the published set its config block names (`published: <set>`)."""
    sets = config.get("published") or {}
    references = {}
    for dataset, block in config["datasets"].items():
        name = block.get("published")
        if name is None:
            continue
        if name not in sets:
            known = ", ".join(sets) or "none"
            raise ValueError(f"dataset {dataset!r} names published set {name!r}, not in the config's 'published' ({known})")
        references[dataset] = sets[name]
    return references
