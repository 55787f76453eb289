"""How hfstats decides a model's frameworks and deployment formats: the rules, in one place.

Two classification methods:

- ``tags`` (the default, and the Hub's own library filter): the tags ``pytorch``, ``tf`` and
  ``jax``, matched exactly (the Hub writes them in lower case). The Hub sets them from the
  weight files it recognises, but a model card can add them too (its tags are free text), so
  a tag is a claim by the Hub or the author, not proof of a weight file.
- ``files``: hfstats' own reading of the weight files and ``library_name``, in ``FILE_RULES``.

A model's *class* is ``pytorch_only``, ``tensorflow_only``, ``jax_only``, ``multi_framework``
(two or three) or ``no_framework``. The rule tables below generate the SQL macros (the queries'
``stored_framework_class`` and ``stored_formats``, which read what a version stored from its
files; ``framework_class(tags, files, library_name, method)`` and friends for ad-hoc SQL) and
the tables in ``docs/queries.md``, so code and documentation cannot drift apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import duckdb

FRAMEWORKS = ("pytorch", "tensorflow", "jax")
METHODS = ("tags", "files")
DEFAULT_METHOD = "tags"
FRAMEWORK_CLASSES = (
    "pytorch_only",
    "tensorflow_only",
    "jax_only",
    "multi_framework",
    "no_framework",
)
# Any createdAt at or before this instant is the Hub's placeholder for "created at an unknown
# time up to then" (repositories older than the Hub's creation dates), never a real 2022 date.
PLACEHOLDER_CREATED_AT_LIMIT = "2022-03-02T23:29:05Z"

# Method ``tags``: tag -> framework.
TAG_FRAMEWORKS = {"pytorch": "pytorch", "tf": "tensorflow", "jax": "jax"}


@dataclass(frozen=True)
class FileRule:
    """One row of the ``files`` method.

    ``pattern`` is a case-insensitive glob matched against a file's name (its last path
    component), or against the whole path when it contains ``/``. ``None`` matches every model
    of ``libraries`` whatever its files. With ``libraries``, the rule applies only to models
    whose ``library_name`` is one of them. ``framework`` None documents files that count for no
    framework on their own (a model having them can still match another rule).
    """

    pattern: str | None
    framework: str | None
    why: str
    libraries: tuple[str, ...] = ()


# Libraries whose safetensors weights are PyTorch state dicts: they load them into torch modules
# (transformers also converts to TF/Flax, but only on request, and the Hub tags those `tf`/`jax`
# only when TF/Flax weight files are present).
_TORCH_SAFETENSORS_LIBRARIES = (
    "transformers",
    "diffusers",
    "sentence-transformers",
    "timm",
    "peft",
)

FILE_RULES: list[FileRule] = [
    FileRule(
        "*pytorch_model*.bin",
        "pytorch",
        "torch.save checkpoints of transformers and diffusers, sharded ones included",
    ),
    FileRule("adapter_model.bin", "pytorch", "PEFT adapters saved with torch.save"),
    FileRule("*.pt", "pytorch", "the usual extension of torch.save files"),
    FileRule("*.pth", "pytorch", "the other usual extension of torch.save files"),
    FileRule(
        "*.ckpt",
        "pytorch",
        "PyTorch Lightning and original Stable Diffusion checkpoints (TensorFlow's "
        "model.ckpt.* files have a longer suffix and do not match)",
    ),
    FileRule(
        "*.safetensors",
        "pytorch",
        "safetensors weights of these libraries are PyTorch state dicts that they load into "
        "torch modules",
        _TORCH_SAFETENSORS_LIBRARIES,
    ),
    FileRule("tf_model*.h5", "tensorflow", "transformers' TensorFlow (Keras HDF5) weights"),
    FileRule("*.keras", "tensorflow", "Keras model archives"),
    FileRule(
        "*.ckpt.index",
        "tensorflow",
        "TensorFlow checkpoints (model.ckpt.index beside its model.ckpt.data-* shards)",
    ),
    FileRule("saved_model.pb", "tensorflow", "TensorFlow SavedModel graphs"),
    FileRule("saved_model.pbtxt", "tensorflow", "TensorFlow SavedModel graphs, text form"),
    FileRule(
        None,
        "tensorflow",
        "the Hub's keras and tf-keras libraries are Keras models, run on TensorFlow (Keras 3 "
        "can use other backends; the repository does not say which)",
        ("keras", "tf-keras"),
    ),
    FileRule(
        "*flax_model*.msgpack",
        "jax",
        "Flax weights of transformers (flax_model.msgpack) and diffusers "
        "(diffusion_flax_model.msgpack), sharded ones included",
    ),
    FileRule("*.msgpack", "jax", "Flax serialises parameters as msgpack", ("flax",)),
    FileRule(
        "*.safetensors",
        None,
        "outside the libraries above (MLX, custom code) safetensors name no framework",
    ),
    FileRule("*.gguf", None, "llama.cpp format: runs without a training framework"),
    FileRule("*.onnx", None, "ONNX Runtime format, exported from any framework"),
    FileRule("*.tflite", None, "TensorFlow Lite runtime format, not a TensorFlow model"),
    FileRule("*.mlmodel", None, "Core ML format, runs without a training framework"),
]


@dataclass(frozen=True)
class FormatRule:
    """How one deployment format is detected: any of its tags, file patterns or libraries."""

    format: str
    tags: tuple[str, ...]
    patterns: tuple[str, ...]
    libraries: tuple[str, ...]
    why: str


FORMAT_RULES: list[FormatRule] = [
    FormatRule(
        "onnx", ("onnx",), ("*.onnx",), (), "the Hub tags ONNX exports; some ship only the file"
    ),
    FormatRule("tflite", ("tflite",), ("*.tflite",), (), "TensorFlow Lite flatbuffers"),
    FormatRule(
        "coreml",
        ("coreml",),
        ("*.mlmodel", "*.mlpackage/*", "*.mlmodelc/*"),
        (),
        "Core ML models are single files or folders (mlpackage, compiled mlmodelc)",
    ),
    FormatRule("gguf", ("gguf",), ("*.gguf",), (), "llama.cpp's single-file format"),
    FormatRule(
        "openvino",
        ("openvino",),
        ("openvino_*.xml",),
        ("openvino",),
        "OpenVINO IR as optimum-intel writes it (openvino_model.xml and friends)",
    ),
    FormatRule("safetensors", ("safetensors",), ("*.safetensors",), (), "safetensors weights"),
    FormatRule(
        "mlx",
        ("mlx",),
        (),
        ("mlx",),
        "MLX weights are plain safetensors or npz: only the tag or library says MLX",
    ),
]


# -- SQL generation ----------------------------------------------------------------------------


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def glob_test(subject: str, glob: str) -> str:
    """SQL that is true when ``subject`` matches ``glob``, as ``subject GLOB glob`` would be.

    DuckDB's GLOB is about three times slower than its plain string tests, and the rules test
    every file of every model. A glob whose only wildcard is ``*`` (which matches any run of
    characters, ``/`` included) becomes the equivalent equality, prefix, suffix and substring
    tests; any other glob stays a GLOB.
    """
    parts = glob.split("*")
    if (
        any(ch in glob for ch in "?[]\\")
        or len([p for p in parts[1:-1] if p]) > 1
        or not glob.strip("*")
    ):
        return f"{subject} GLOB {_literal(glob)}"
    if len(parts) == 1:
        return f"{subject} = {_literal(glob)}"
    prefix, suffix = parts[0], parts[-1]
    middle = "".join(parts[1:-1])
    tests = []
    if prefix:
        tests.append(f"starts_with({subject}, {_literal(prefix)})")
    if suffix:
        tests.append(f"ends_with({subject}, {_literal(suffix)})")
    if middle:
        # The middle must occur between the prefix and the suffix, not overlapping them.
        inner = f"{subject}[{len(prefix) + 1}:length({subject}) - {len(suffix)}]"
        tests.append(f"contains({inner}, {_literal(middle)})")
    elif prefix and suffix:
        tests.append(f"length({subject}) >= {len(prefix) + len(suffix)}")
    return "(" + " AND ".join(tests) + ")"


def _on_whole_path(pattern: str) -> bool:
    # A pattern with `/` matches the whole path. So may `*` and a suffix without `/`: the path
    # ends with the suffix exactly when its file name does, and no file name is cut out.
    return "/" in pattern or (pattern.startswith("*") and "*" not in pattern[1:])


def _any_file(patterns: list[str]) -> str:
    # Names on the Hub are not consistently cased, so names are lower-cased once per file, then
    # tested against every pattern.
    by_subject = {
        "lower(parse_filename(f, false, 'forward_slash'))": [
            p for p in patterns if not _on_whole_path(p)
        ],
        "lower(f)": [p for p in patterns if _on_whole_path(p)],
    }
    tests = []
    for subject, globs in by_subject.items():
        if globs:
            matches = " OR ".join(glob_test("name", glob.lower()) for glob in globs)
            tests.append(
                "coalesce(list_bool_or(list_transform("
                f"list_transform(files, lambda f: {subject}), lambda name: {matches})), false)"
            )
    return "(" + " OR ".join(tests) + ")"


def _library_in(libraries: tuple[str, ...]) -> str:
    return f"coalesce(library_name IN ({', '.join(_literal(name) for name in libraries)}), false)"


def _file_rules_condition(framework: str) -> str:
    # Rules with the same library condition share one pass over the file list: a pass per rule
    # made the files method several times slower on real-sized databases.
    patterns_by_libraries: dict[tuple[str, ...], list[str | None]] = {}
    for rule in FILE_RULES:
        if rule.framework == framework:
            patterns_by_libraries.setdefault(rule.libraries, []).append(rule.pattern)
    conditions = []
    for libraries, patterns in patterns_by_libraries.items():
        globs = [pattern for pattern in patterns if pattern is not None]
        if None in patterns:
            conditions.append(_library_in(libraries))
        elif libraries:
            conditions.append(f"({_library_in(libraries)} AND {_any_file(globs)})")
        else:
            conditions.append(_any_file(globs))
    return "(" + " OR ".join(conditions) + ")"


def _framework_list(conditions: dict[str, str]) -> str:
    # Concatenating one-element lists keeps the frameworks in FRAMEWORKS order.
    pieces = [
        f"CASE WHEN {conditions[name]} THEN ['{name}'] ELSE []::VARCHAR[] END"
        for name in FRAMEWORKS
    ]
    return "(" + " || ".join(pieces) + ")"


def _tag_condition(tags: list[str]) -> str:
    return " OR ".join(f"coalesce(list_contains(tags, {_literal(tag)}), false)" for tag in tags)


# Bumped whenever the way patterns are matched changes, so that stored classifications are
# recomputed. 2: `*pytorch_model*.bin` and other patterns with an inner `*` match the file name,
# as documented, not the whole path.
MATCHING_REVISION = 2


def rules_version() -> str:
    """A fingerprint of the rule tables: stored classifications are valid only under it."""
    rules = repr((MATCHING_REVISION, sorted(TAG_FRAMEWORKS.items()), FILE_RULES, FORMAT_RULES))
    return hashlib.sha256(rules.encode()).hexdigest()[:16]


def macro_statements(temporary: bool = True, stored_rules_current: bool = True) -> list[str]:
    """``CREATE OR REPLACE [TEMP] MACRO`` statements for the classification macros.

    Temporary macros work on read-only connections, so queries run on databases written by any
    hfstats version; later macros call earlier ones. The files method and the deployment
    formats are stored per model version when it is merged (``file_frameworks``, ``formats``):
    the queries read them through ``stored_file_frameworks``/``stored_formats``, which compute
    them afresh instead when ``stored_rules_current`` is false (rules changed since the
    database was last written).
    """
    kind = "TEMP MACRO" if temporary else "MACRO"
    tag_conditions = {
        name: "(" + _tag_condition([t for t, f in TAG_FRAMEWORKS.items() if f == name]) + ")"
        for name in FRAMEWORKS
    }
    file_conditions = {name: _file_rules_condition(name) for name in FRAMEWORKS}
    class_rows = ", ".join(
        f"({_literal(name)}, {position})" for position, name in enumerate(FRAMEWORK_CLASSES, 1)
    )
    format_pieces = []
    for rule in FORMAT_RULES:
        conditions = []
        if rule.tags:
            conditions.append(_tag_condition(list(rule.tags)))
        if rule.patterns:
            conditions.append(_any_file(list(rule.patterns)))
        if rule.libraries:
            conditions.append(_library_in(rule.libraries))
        format_pieces.append(
            f"CASE WHEN {' OR '.join(conditions)} THEN [{_literal(rule.format)}] "
            "ELSE []::VARCHAR[] END"
        )
    format_rows = ", ".join(
        f"({_literal(rule.format)}, {position})" for position, rule in enumerate(FORMAT_RULES, 1)
    )
    methods = ", ".join(_literal(m) for m in METHODS)
    return [
        f"CREATE OR REPLACE {kind} tag_frameworks(tags) AS {_framework_list(tag_conditions)}",
        f"CREATE OR REPLACE {kind} file_frameworks(files, library_name) AS "
        f"{_framework_list(file_conditions)}",
        f"""CREATE OR REPLACE {kind} model_frameworks(tags, files, library_name, method) AS
        CASE method
            WHEN 'tags' THEN tag_frameworks(tags)
            WHEN 'files' THEN file_frameworks(files, library_name)
            ELSE error('unknown classification method ' || coalesce(method, 'NULL')
                || '; use one of ' || {_literal(methods)})
        END""",
        f"""CREATE OR REPLACE {kind} framework_class_of(frameworks) AS
        CASE len(frameworks)
            WHEN 0 THEN 'no_framework'
            WHEN 1 THEN frameworks[1] || '_only'
            ELSE 'multi_framework'
        END""",
        f"CREATE OR REPLACE {kind} framework_class(tags, files, library_name, method) AS "
        "framework_class_of(model_frameworks(tags, files, library_name, method))",
        f"CREATE OR REPLACE {kind} framework_classes() AS TABLE "
        f"SELECT * FROM (VALUES {class_rows}) AS classes(framework_class, position)",
        f"CREATE OR REPLACE {kind} deployment_formats(tags, files, library_name) AS "
        f"({' || '.join(format_pieces)})",
        f"CREATE OR REPLACE {kind} deployment_format_names() AS TABLE "
        f"SELECT * FROM (VALUES {format_rows}) AS formats(format, position)",
        f"""CREATE OR REPLACE {kind} is_placeholder_created_at(created_at) AS
        CAST(created_at AS TIMESTAMPTZ) <= TIMESTAMPTZ '{PLACEHOLDER_CREATED_AT_LIMIT}'""",
        f"""CREATE OR REPLACE {kind} created_year(created_at) AS
        CASE WHEN NOT is_placeholder_created_at(created_at)
            THEN CAST(extract(year FROM timezone('UTC', CAST(created_at AS TIMESTAMPTZ))) AS INTEGER)
        END""",
        # A placeholder-range date says only "created by the end of the range": such a model
        # counts from then, so a cut-off inside or before the range leaves it out.
        f"""CREATE OR REPLACE {kind} created_by(created_at, as_of) AS
        as_of IS NULL
        OR coalesce(
            CASE WHEN is_placeholder_created_at(created_at)
                THEN TIMESTAMPTZ '{PLACEHOLDER_CREATED_AT_LIMIT}'
                ELSE CAST(created_at AS TIMESTAMPTZ)
            END <= CAST(as_of AS TIMESTAMPTZ),
            false
        )""",
        f"CREATE OR REPLACE {kind} stored_file_frameworks(stored, files, library_name) AS "
        + ("stored" if stored_rules_current else "file_frameworks(files, library_name)"),
        f"CREATE OR REPLACE {kind} stored_formats(stored, tags, files, library_name) AS "
        + ("stored" if stored_rules_current else "deployment_formats(tags, files, library_name)"),
        f"""CREATE OR REPLACE {kind} stored_framework_class(tags, stored, files, library_name, method)
        AS framework_class_of(CASE method
            WHEN 'tags' THEN tag_frameworks(tags)
            WHEN 'files' THEN stored_file_frameworks(stored, files, library_name)
            ELSE error('unknown classification method ' || coalesce(method, 'NULL')
                || '; use one of ' || {_literal(methods)})
        END)""",
    ]


def install_macros(connection: duckdb.DuckDBPyConnection) -> None:
    """Create the classification macros as TEMP macros on ``connection`` (read-only is fine)."""
    try:
        rows = connection.execute(
            "SELECT value FROM hfstats_meta WHERE key = 'rules_version'"
        ).fetchall()
    except duckdb.CatalogException:  # not an hfstats database: nothing is stored
        rows = []
    current = bool(rows) and rows[0][0] == rules_version()
    for statement in macro_statements(temporary=True, stored_rules_current=current):
        connection.execute(statement)


# -- documentation -----------------------------------------------------------------------------


def _code(text: str) -> str:
    return f"`{text}`"


def rules_markdown() -> str:
    """The rule tables as Markdown, exactly as they appear in docs/queries.md."""
    lines = [
        "Method `tags`:",
        "",
        "| tag | framework |",
        "| --- | --- |",
    ]
    lines += [f"| {_code(tag)} | {name} |" for tag, name in TAG_FRAMEWORKS.items()]
    lines += [
        "",
        "Method `files` (a model gets every framework one of its rows matches):",
        "",
        "| file pattern | library_name | framework | why |",
        "| --- | --- | --- | --- |",
    ]
    for rule in FILE_RULES:
        pattern = _code(rule.pattern) if rule.pattern is not None else "(any files)"
        libraries = ", ".join(_code(name) for name in rule.libraries) or "any"
        lines.append(f"| {pattern} | {libraries} | {rule.framework or 'none'} | {rule.why} |")
    lines += [
        "",
        "Deployment formats (a model ships a format if any tag, file pattern or library matches):",
        "",
        "| format | tags | file patterns | library_name | why |",
        "| --- | --- | --- | --- | --- |",
    ]
    for rule in FORMAT_RULES:
        cells = [
            ", ".join(_code(value) for value in values) or "-"
            for values in (rule.tags, rule.patterns, rule.libraries)
        ]
        lines.append(f"| {rule.format} | {' | '.join(cells)} | {rule.why} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(rules_markdown())
