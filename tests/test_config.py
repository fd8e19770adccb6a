"""params.yaml is validated once, and every mistake is one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

from nanoforge.config import CleanConfig, ExtraCsv, HttpConfig, Params, load_params
from nanoforge.errors import ConfigError


def load(tmp_path: Path, text: str) -> Params:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return load_params(path)


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_project_params_load_with_their_documented_defaults() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params.data.source == "builtin"
    assert params.crawl.arxiv.min_interval_s == 3.0
    assert params.crawl.http.max_retries == 5
    assert params.clean.section_markers == "remove"


def test_missing_sections_take_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, "") == Params()


def test_yaml_1_2_floats_in_exponent_form_are_floats(tmp_path: Path) -> None:
    params = load(tmp_path, "crawl:\n  http:\n    backoff_base_s: 5e-1\n")
    assert params.crawl.http.backoff_base_s == 0.5


def test_integers_are_accepted_where_floats_are_expected(tmp_path: Path) -> None:
    params = load(tmp_path, "crawl:\n  http:\n    timeout_s: 10\n")
    assert params.crawl.http.timeout_s == 10.0 and isinstance(params.crawl.http.timeout_s, float)


def test_unknown_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    message = error_of(tmp_path, "crawl:\n  arxiv:\n    max_reslts: 10\n")
    assert message.endswith(
        "params.yaml: crawl.arxiv.max_reslts is not a known key; did you mean 'max_results'?"
    )


def test_unknown_section_is_named(tmp_path: Path) -> None:
    assert "datta is not a known key; did you mean 'data'?" in error_of(tmp_path, "datta: {}\n")


def test_wrong_type_names_key_expected_type_and_value(tmp_path: Path) -> None:
    message = error_of(tmp_path, "clean:\n  min_chars: many\n")
    assert message.endswith("clean.min_chars must be int (got str 'many')")


def test_a_boolean_is_not_a_number(tmp_path: Path) -> None:
    assert "clean.min_chars must be int (got bool True)" in error_of(
        tmp_path, "clean:\n  min_chars: true\n"
    )


def test_choice_outside_the_allowed_values_lists_them(tmp_path: Path) -> None:
    message = error_of(tmp_path, "data:\n  source: kaggle\n")
    assert message.endswith("data.source must be one of builtin | web (got 'kaggle')")


def test_impossible_values_name_the_key_and_the_value(tmp_path: Path) -> None:
    assert "clean.val_fraction must be between 0 and 1, exclusive (got 1.5)" in error_of(
        tmp_path, "clean:\n  val_fraction: 1.5\n"
    )
    assert "crawl.arxiv.page_size must be between 1 and 2000 (got 5000)" in error_of(
        tmp_path, "crawl:\n  arxiv:\n    page_size: 5000\n"
    )
    assert "crawl.arxiv.max_results must be between 1 and 30000 (got 40000)" in error_of(
        tmp_path, "crawl:\n  arxiv:\n    max_results: 40000\n"
    )


def test_relations_between_keys_name_both(tmp_path: Path) -> None:
    message = error_of(tmp_path, "clean:\n  min_chars: 500\n  max_chars: 100\n")
    assert "clean.max_chars must be greater than clean.min_chars (got 100 and 500)" in message


def test_list_items_are_validated_with_their_index(tmp_path: Path) -> None:
    text = (
        "clean:\n  extra_csv:\n"
        "    - {path: data/external/a.csv, corpus: domain, kind: lyrics, columns: {text: lyrics}}\n"
        "    - {path: data/external/b.csv, corpus: domain, kind: lyric, columns: {text: t}}\n"
    )
    assert "clean.extra_csv[1].kind must be one of prose | lyrics | verbatim (got 'lyric')" in (
        error_of(tmp_path, text)
    )


def test_missing_required_field_is_named(tmp_path: Path) -> None:
    text = "clean:\n  extra_csv:\n    - {path: data/external/a.csv, corpus: domain, kind: prose}\n"
    assert error_of(tmp_path, text).endswith("clean.extra_csv[0].columns is missing")


def test_extra_csv_must_live_in_data_external_so_dvc_tracks_it() -> None:
    extra = ExtraCsv(
        path="/home/me/songs.csv", corpus="domain", kind="lyrics", columns={"text": "lyrics"}
    )
    with pytest.raises(
        ConfigError, match=r"clean.extra_csv\[0\].path must be inside data/external/"
    ):
        CleanConfig(extra_csv=(extra,))


def test_extra_csv_columns_need_text_and_known_fields() -> None:
    base = dict(path="data/external/a.csv", corpus="domain", kind="lyrics")
    with pytest.raises(ConfigError, match=r"columns must map `text` to a CSV column"):
        CleanConfig(extra_csv=(ExtraCsv(**base, columns={"title": "song"}),))
    with pytest.raises(ConfigError, match=r"columns.lyrics is not a record field"):
        CleanConfig(extra_csv=(ExtraCsv(**base, columns={"text": "t", "lyrics": "x"}),))


def test_unknown_encoding_is_refused_up_front() -> None:
    extra = ExtraCsv(
        path="data/external/a.csv",
        corpus="domain",
        kind="lyrics",
        columns={"text": "t"},
        encoding="utf-9",
    )
    with pytest.raises(ConfigError, match=r"encoding 'utf-9' is not a known encoding"):
        CleanConfig(extra_csv=(extra,))


def test_dataclasses_built_in_code_are_validated_too() -> None:
    with pytest.raises(ConfigError, match=r"crawl.http.timeout_s must be positive \(got 0\)"):
        HttpConfig(timeout_s=0)


def test_configs_are_frozen() -> None:
    with pytest.raises(AttributeError):
        HttpConfig().timeout_s = 3.0  # type: ignore[misc]


def test_broken_yaml_is_one_line_with_the_line_number(tmp_path: Path) -> None:
    message = error_of(tmp_path, "data:\n  source: [builtin\n")
    assert "not valid YAML at line" in message


def test_missing_params_file_says_where_to_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found; run from the project root"):
        load_params(tmp_path / "nope.yaml")


# -------------------------------------------------------------------- experiments


def test_experiment_train_overrides_are_checked_on_top_of_train(tmp_path: Path) -> None:
    message = error_of(tmp_path, "train: {max_steps: 100}\nfinetune: {train: {warmup_steps: 200}}")
    assert message.endswith(
        "finetune.train (overrides of train): train.warmup_steps must be >= 0 and less than "
        "train.max_steps (got 200 and 100)"
    )
    message = error_of(tmp_path, "ablate: {variants: {baseline: {}, x: {train: {lrr: 1}}}}")
    assert "ablate.variants.x.train (overrides of train): train.lrr is not a known key" in message


def test_ablation_needs_a_baseline_two_seeds_and_dvc_safe_names(tmp_path: Path) -> None:
    assert error_of(tmp_path, "ablate: {variants: {x: {}}}").endswith(
        "ablate.variants must include `baseline`"
    )
    assert error_of(tmp_path, "ablate: {seeds: [1, 1]}").endswith(
        "ablate.seeds must list at least 2 different seeds (got [1, 1])"
    )
    message = error_of(tmp_path, "ablate: {variants: {baseline: {}, dropout_0.1: {}}}")
    assert "ablate.variants.dropout_0.1: names may use letters, digits, _ and - only" in message
    assert "'dropout_01'" in message


def test_scaling_needs_three_sizes(tmp_path: Path) -> None:
    message = error_of(tmp_path, "scale: {sizes: {a: {n_embd: 8}, b: {n_embd: 16}}}")
    assert "scale.sizes must list at least 3 sizes" in message


def test_replay_share_must_leave_room_for_the_domain(tmp_path: Path) -> None:
    assert error_of(tmp_path, "finetune: {replay: 1.0}").endswith(
        "finetune.replay must be > 0 and < 1 (got 1.0); a run without replay is always "
        "trained beside it"
    )
