"""One configuration: every setting has one name in the file, the environment and the
flags; the three are merged (file < environment < flags) and checked once; messages say
where a bad value came from, and never show a secret."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dualrec.cli import build_parser
from dualrec.config import load, load_settings
from dualrec.config_docs import DOC, config_template, settings_table, with_table
from dualrec.options import OPTIONS, Kind
from dualrec.settings import Settings, SettingsError
from inspection.recogniser import packaged_model
from tests.cli.serving import serving
from tests.support import free_port

TURN = "turn:turn.bank.example:3478?transport=udp"
SECRET = "shared-turn-secret-7f3a"


def flags(*argv: str) -> dict[str, object]:
    """The parsed flags of ``dualrec serve ARGV``, as the command hands them on."""
    return vars(build_parser().parse_args(["serve", *argv]))


def test_every_setting_has_one_name_and_every_name_a_flag() -> None:
    assert [o.name for o in OPTIONS] == [f.name for f in dataclasses.fields(Settings)]
    assert len({o.env for o in OPTIONS}) == len({o.flag for o in OPTIONS}) == len(OPTIONS)
    for option in OPTIONS:
        assert option.env == "DUALREC_" + option.name.upper()
        assert option.flag == "--" + option.name.replace("_", "-")
        if option.kind in (Kind.TEXT, Kind.INT, Kind.NUMBER, Kind.PATH, Kind.LIST):
            value = option.choices[0] if option.choices else "7"
            for flag in (option.flag, *option.aliases):
                parsed = flags(flag, value)[option.name]
                assert parsed is not None
                if option.kind is Kind.LIST:
                    assert parsed == [value]
        else:
            assert flags(option.flag)[option.name] is True
            assert flags("--no-" + option.flag[2:])[option.name] is False


def test_the_documented_table_is_the_code() -> None:
    document = DOC.read_text("utf-8")
    assert with_table(document) == document, "run python -m dualrec.config_docs"
    for option in OPTIONS:
        assert f"| `{option.name}` | `{option.env}`" in settings_table()
    # The template in a new data folder is valid TOML that sets nothing.
    uncommented = "\n".join(
        line.removeprefix("# ") for line in config_template().splitlines() if " = " in line
    )
    assert "data_dir" not in uncommented and "turn_secret" in uncommented


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    config = etc / "dualrec.toml"
    config.write_text(
        'port = 8001\nhost = "10.1.0.11"\ntls_cert = "tls/server.crt"\n'
        'tls_key = "/etc/dualrec/tls/server.key"\ntrusted_proxies = ["10.1.0.10"]\n'
        "s3_keep_local = true\nsegment_s = 4\n"
    )
    env = {"DUALREC_CONFIG": str(config), "DUALREC_PORT": "8002", "DUALREC_HOST": " "}
    from_file = load_settings(environ={"DUALREC_CONFIG": str(config)})
    assert (from_file.port, from_file.host, from_file.segment_s) == (8001, "10.1.0.11", 4.0)
    assert from_file.tls_cert == etc / "tls" / "server.crt"  # from the file's folder
    assert from_file.trusted_proxies == ("10.1.0.10",) and from_file.s3_keep_local
    loaded = load(flags(), env)
    assert loaded.settings.port == 8002 and loaded.settings.host == "10.1.0.11"  # empty: unset
    assert loaded.sources["port"] == "DUALREC_PORT"
    assert loaded.sources["host"] == f"{config} line 2" and loaded.config_file == config
    flagged = load(flags("--port", "8003", "--trusted-proxy", "10.1.0.12,10.1.0.13"), env)
    assert flagged.settings.port == 8003 and flagged.sources["port"] == "--port"
    assert flagged.settings.trusted_proxies == ("10.1.0.12", "10.1.0.13")
    # --config wins over DUALREC_CONFIG; a file named but missing is refused.
    with pytest.raises(SettingsError, match=r"missing\.toml \(--config\) does not exist"):
        load_settings(flags("--config", str(tmp_path / "missing.toml")), env)


def test_a_pair_may_be_split_between_the_sources(tmp_path: Path) -> None:
    # The environment alone is refused, naming where the TURN servers came from...
    with pytest.raises(SettingsError, match=r"need the secret.*turn_urls from DUALREC_TURN_URLS"):
        load_settings(flags(), {"DUALREC_TURN_URLS": TURN})
    # ...but its secret may come from a flag, or the servers from the file.
    settings = load_settings(flags("--turn-secret", SECRET), {"DUALREC_TURN_URLS": TURN})
    assert settings.turn_urls == (TURN,) and settings.turn_secret == SECRET
    config = tmp_path / "dualrec.toml"
    config.write_text(f'turn_urls = ["{TURN}"]\ntls_cert = "a.crt"\n')
    env = {"DUALREC_TURN_SECRET": SECRET, "DUALREC_TLS_KEY": "a.key"}
    settings = load_settings(flags("--config", str(config)), env)
    assert settings.turn_urls == (TURN,) and settings.tls_key == Path("a.key")


def test_bad_values_are_refused_naming_their_source(tmp_path: Path) -> None:
    config = tmp_path / "dualrec.toml"
    cases = {
        "# ports\n\nport = 'x'\n": rf"{config} line 3: port must be a whole number, got 'x'",
        "prot = 80\n": r"line 1: unknown setting 'prot' \(did you mean 'port'\?\)",
        "[s3]\nbucket = 'b'\n": r"unknown section 's3'",
        "turn_urls = 'turn:a'\n": r"line 1: turn_urls must be a list",
        "log_format = 'xml'\n": r"line 1: log_format must be text or json, got 'xml'",
        "port = \n": r"is not valid TOML",
    }
    for text, problem in cases.items():
        config.write_text(text)
        with pytest.raises(SettingsError, match=problem):
            load_settings(flags("--config", str(config)), {})
    with pytest.raises(SettingsError, match="DUALREC_TURN_TTL_S: turn_ttl_s must be a whole"):
        load_settings(environ={"DUALREC_TURN_TTL_S": "an hour"})
    with pytest.raises(SettingsError, match="DUALREC_INIT: init must be true or false"):
        load_settings(environ={"DUALREC_INIT": "perhaps"})
    with pytest.raises(SettingsError, match=r"unknown time zone 'Mars/Olympus' \(timezone from"):
        load_settings(flags("--timezone", "Mars/Olympus"), {})
    # The data folder's own file cannot move the data folder.
    data = tmp_path / "var"
    data.mkdir()
    (data / "dualrec.toml").write_text(f'data_dir = "{tmp_path}/elsewhere"\n')
    with pytest.raises(SettingsError, match="cannot move the data folder"):
        load_settings(flags("--data-dir", str(data)), {})


def test_secrets_are_never_shown(tmp_path: Path) -> None:
    config = tmp_path / "dualrec.toml"
    config.write_text(f"turn_secret = 4711\nmetrics_token = ['{SECRET}']\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(flags("--config", str(config)), {})
    assert "turn_secret must be text, got a hidden value" in str(caught.value)
    assert "4711" not in str(caught.value)
    bad_url = {"DUALREC_TURN_URLS": "http://turn.example", "DUALREC_TURN_SECRET": SECRET}
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=bad_url)
    assert "turn_secret from DUALREC_TURN_SECRET" in str(caught.value)
    assert SECRET not in str(caught.value)
    loaded = load_settings(flags("--metrics-token", SECRET, "--turn-secret", SECRET), {})
    assert SECRET not in repr(loaded)


def test_serve_reads_the_file_named_in_the_environment(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "node.toml"
    data = tmp_path / "srv"
    config.write_text(
        f'data_dir = "{data}"\nport = {port}\ninit = true\nlog_format = "json"\n'
        f'metrics_token = "{SECRET}"\n'
    )
    log = tmp_path / "serve.log"
    env = {"DUALREC_CONFIG": str(config), "DUALREC_NODE_ID": "node-c"}
    with serving(port, log=log, env=env):
        assert (data / "dualrec-data.toml").is_file()
    text = log.read_text()
    assert '"level"' in text  # JSON lines, from the file
    # The node says which file it read and where each setting came from, never a value.
    said = f"settings file {config}; set: data_dir ({config} line 1), port ({config} line 2)"
    assert said in text
    assert f"metrics_token ({config} line 5), node_id (DUALREC_NODE_ID)" in text
    assert SECRET not in text


def test_serve_reads_the_data_folders_own_file(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "var"
    with serving(port, "--data-dir", str(data), "--port", str(port), "--init", log=tmp_path / "a"):
        pass
    # init left a dualrec.toml with everything commented out; set the port in it.
    own = data / "dualrec.toml"
    other = free_port()
    own.write_text(own.read_text() + f"port = {other}\n")
    with serving(other, "--data-dir", str(data), log=tmp_path / "b"):
        pass
    # A flag still wins over the file.
    with serving(port, "--data-dir", str(data), "--port", str(port), log=tmp_path / "c"):
        pass


def test_speech_model_folders_reach_the_inspection(tmp_path: Path) -> None:
    from dualrec.jobs_setup import inspection_limits

    # A model folder as PocketSphinx lays one out (the wheel's English one, linked).
    mandarin = tmp_path / "zh-model"
    mandarin.mkdir()
    (mandarin / "acoustic").symlink_to(packaged_model() / "en-us", target_is_directory=True)
    (mandarin / "words.dict").symlink_to(packaged_model() / "cmudict-en-us.dict")
    (tmp_path / "dualrec.toml").write_text('speech_model_zh_cn = "zh-model"\n')
    settings = load_settings({"data_dir": tmp_path})
    assert settings.speech_models == {"zh-CN": mandarin}
    assert inspection_limits(settings).speech.models == {"zh-CN": mandarin}
    assert inspection_limits(Settings()).speech.models == {}
    env = {"DUALREC_SPEECH_MODEL_EN": str(tmp_path / "missing")}
    with pytest.raises(SettingsError, match="speech_model_en: no speech model folder") as caught:
        load_settings(environ=env, use_file=False)
    assert "DUALREC_SPEECH_MODEL_EN" in str(caught.value)
    # A folder without a dictionary is refused at start, not at the first inspection.
    (mandarin / "words.dict").unlink()
    with pytest.raises(SettingsError, match=r"speech_model_zh_cn: .* holds 0 dictionaries"):
        load_settings({"data_dir": tmp_path})
