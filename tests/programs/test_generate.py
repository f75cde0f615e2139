"""generate.py on GPT-2 weights: greedy parity with Hugging Face, the prefix table, and bad input in one line.

The model is tests/tiny_gpt2.py's: random, two blocks, its own byte-level BPE, saved with save_pretrained to
a temp folder and read through generate.py's own loading path (`--model FOLDER`), never the hub.
"""

import codecs
import time

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, GPT2Config, GPT2LMHeadModel

from programs import generate
from tests.tiny_gpt2 import save_tiny_gpt2

MAX_NEW = 40  # the tiny model has 64 positions: Hugging Face's generate must not run past them


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return str(save_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2")))


def hf_greedy(folder: str, prompt_ids: list[int]) -> list[int]:
    """Hugging Face's greedy continuation: the new ids, ending before its end-of-text token like ours."""
    model = GPT2LMHeadModel.from_pretrained(folder).eval()
    out = model.generate(torch.tensor([prompt_ids]), do_sample=False, max_new_tokens=MAX_NEW)
    new = out[0, len(prompt_ids) :].tolist()
    eos = model.config.eos_token_id
    return new[: new.index(eos)] if eos in new else new


def one_line_error(capsys, exit_info) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 2, err  # the line, then the LAB_DEBUG hint
    assert err[0].startswith("error: "), err
    return err[0]


@pytest.mark.parametrize("cache", [True, False])
@pytest.mark.parametrize("prompt", ["The city", ""])
def test_greedy_tokens_equal_hugging_face_generate(tiny_dir, prompt, cache):
    lm = generate.load_pretrained_model(tiny_dir, "cpu")
    prompt_ids = lm.encode(prompt)
    args = generate.parse_args(["--model", tiny_dir, "--temperature", "0", "--max-new-tokens", str(MAX_NEW)])
    args.no_cache = not cache
    ours = generate.continuations(lm, prompt_ids, 2, args, torch.Generator())
    theirs = hf_greedy(tiny_dir, prompt_ids)
    assert len(theirs) >= 10  # a real sequence of choices, not an immediate end of text
    assert ours == [theirs, theirs]


@pytest.mark.parametrize("cache_flag", [[], ["--no-cache"]])
def test_generate_py_prints_hugging_face_greedy_text(tiny_dir, cache_flag, capsys):
    argv = ["--model", tiny_dir, "--prompt", "She said", "--temperature", "0", "--max-new-tokens", str(MAX_NEW)]
    texts = generate.main(argv + cache_flag)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    prompt_ids = tokenizer.encode("She said")
    expected = tokenizer.decode(prompt_ids + hf_greedy(tiny_dir, prompt_ids), skip_special_tokens=True)
    assert texts == [expected]
    assert capsys.readouterr().out == f"--- sample 1\n{expected}\n"


def test_prefixes_become_a_markdown_table_of_n_samples_each(tiny_dir, tmp_path):
    prefixes = tmp_path / "prefixes.txt"
    prefixes.write_text("The city\n\n   \nShe said\n", encoding="utf-8")  # blank lines are skipped
    out = tmp_path / "samples.md"
    argv = ["--model", tiny_dir, "--prefixes", str(prefixes), "--max-new-tokens", "12", "--top-k", "20"]
    texts = generate.main([*argv, "--num-samples", "3", "--out", str(out)])
    lines = out.read_text(encoding="utf-8").split("\n")  # Markdown's line ends only, not str.splitlines' many
    assert lines[:2] == ["| prefix | sample |", "|---|---|"] and lines[-1] == "" and len(lines) == 2 + 6 + 1
    prefixes = ["The city"] * 3 + ["She said"] * 3
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    for line, prefix, text in zip(lines[2:-1], prefixes, texts, strict=True):
        assert text.startswith(prefix) and len(tokenizer.encode(text)) > len(tokenizer.encode(prefix))
        assert line == f"| {prefix} | {generate.markdown_cell(text[len(prefix) :])} |"
    assert len(set(texts)) > 2  # sampled, not greedy: the samples of one prefix differ
    assert generate.main([*argv, "--num-samples", "3"]) == texts  # same seed, same samples (now on stdout)


def test_the_num_samples_default_is_five_per_prefix(tiny_dir, tmp_path, capsys):
    prefixes = tmp_path / "prefixes.txt"
    prefixes.write_text("Once upon\n", encoding="utf-8")
    texts = generate.main(["--model", tiny_dir, "--prefixes", str(prefixes), "--max-new-tokens", "3"])
    assert len(texts) == 5 and capsys.readouterr().out.count("\n| Once upon | ") == 5


def test_a_prefix_file_is_read_without_its_byte_order_mark(tmp_path):
    path = tmp_path / "prefixes.txt"
    path.write_bytes(codecs.BOM_UTF8 + b"The city\n\nShe said\n")
    assert generate.read_prefixes(str(path)) == ["The city", "She said"]


def test_a_markdown_cell_keeps_pipes_and_line_breaks_inside_it():
    assert generate.markdown_cell("a|b\nc\r\nd\\e") == "a\\|b<br>c<br>d\\\\e"
    table = generate.markdown_table([("x|y", "one\ntwo | three")])
    assert table.splitlines()[2] == "| x\\|y | one<br>two \\| three |"


def test_the_shipped_prefix_file_holds_ten_two_word_prefixes():
    prefixes = generate.read_prefixes("configs/prefixes/two_words.txt")
    assert len(prefixes) == 10 and all(len(p.split()) == 2 for p in prefixes)


def test_an_offline_hub_name_fails_in_seconds_saying_how_to_use_a_folder(capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # what HF_HUB_OFFLINE=1 (tests/conftest.py) sets
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exit_info:
        generate.main(["--model", "lab-tests/gpt2-nobody-cached"])
    assert time.perf_counter() - start < 10
    line = one_line_error(capsys, exit_info)
    assert "'lab-tests/gpt2-nobody-cached' is not a folder here" in line and "HF_HUB_OFFLINE=1" in line
    assert "point at a local folder instead" in line


def test_an_unreachable_hub_fails_in_seconds_without_retrying(capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens: refused at once
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exit_info:
        generate.main(["--model", "lab-tests/gpt2-nobody-cached"])
    assert time.perf_counter() - start < 10
    line = one_line_error(capsys, exit_info)
    assert "the Hugging Face hub at http://127.0.0.1:9 did not answer" in line
    assert "point at a local folder instead" in line


def write_bert_folder(folder):
    BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2).save_pretrained(folder)


def write_config_only(folder):
    GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=1, n_head=2).save_pretrained(folder)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda d: (d / "notes.txt").write_text("no model here"), "is not a saved Hugging Face model (no config.json)"),
        (write_bert_folder, "holds a 'bert' model; a 'gpt2' model is needed here"),
        (lambda d: (d / "config.json").write_text("{not json"), "is not a model config Hugging Face can read"),
        (write_config_only, "GPT2LMHeadModel could not be loaded from it"),
    ],
    ids=["no-config", "bert", "broken-config", "no-weights"],
)
def test_a_folder_that_is_not_a_gpt2_model_is_named_in_one_line(make, expected, tmp_path, capsys):
    folder = tmp_path / "model"
    folder.mkdir()
    make(folder)
    with pytest.raises(SystemExit) as exit_info:
        generate.main(["--model", str(folder)])
    line = one_line_error(capsys, exit_info)
    assert line.startswith(f"error: {folder}") and expected in line, line


def test_a_folder_without_tokenizer_files_is_named_in_one_line(tiny_dir, tmp_path, capsys):
    GPT2LMHeadModel.from_pretrained(tiny_dir).save_pretrained(tmp_path)  # weights and config, no tokenizer
    capsys.readouterr()  # save_pretrained's progress bar
    with pytest.raises(SystemExit) as exit_info:
        generate.main(["--model", str(tmp_path), "--max-new-tokens", "2"])
    line = one_line_error(capsys, exit_info)
    assert line == (
        f"error: {tmp_path}: its tokenizer has 1 tokens for a model of 404: the model's own tokenizer files "
        "are missing (tokenizer.json, or vocab.json and merges.txt)"
    )


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--model", "./no/such/folder"], "./no/such/folder: no such model folder (nor a valid hub name)"),
        (["--prefixes", "missing.txt"], "missing.txt: no such prefix file (one prefix per line)"),
        (["--prefixes", "{empty}"], "holds no prefix: write one prefix per line"),
        (["--prompt", "x", "--out", "no/such/dir/a.md"], "no/such/dir/a.md (--out): its folder does not exist"),
    ],
    ids=["missing-folder", "missing-prefixes", "empty-prefixes", "out-folder"],
)
def test_bad_paths_are_named_in_one_line(argv, expected, tiny_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.txt").write_text("\n  \n\n", encoding="utf-8")
    argv = [a.replace("{empty}", "empty.txt") for a in argv]
    model = [] if "--model" in argv else ["--model", tiny_dir]
    with pytest.raises(SystemExit) as exit_info:
        generate.main(model + argv)
    assert expected in one_line_error(capsys, exit_info)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--temperature", "nan"], "temperature must be a finite number ≥ 0 (0 = greedy), got nan"),
        (["--temperature", "inf"], "temperature must be a finite number ≥ 0 (0 = greedy), got inf"),
        (["--temperature", "-1"], "temperature must be a finite number ≥ 0 (0 = greedy), got -1.0"),
        (["--top-p", "nan"], "top_p must be in (0, 1], got nan"),
        (["--top-p", "0"], "top_p must be in (0, 1], got 0.0"),
        (["--top-p", "1.5"], "top_p must be in (0, 1], got 1.5"),
        (["--top-k", "0"], "top_k must be a positive number of tokens, got 0"),
    ],
    ids=["temperature-nan", "temperature-inf", "temperature-negative", "top-p-nan", "top-p-0", "top-p-1.5", "top-k-0"],
)
def test_sampling_flags_out_of_range_are_one_line_before_the_model_loads(flags, expected, capsys, monkeypatch):
    monkeypatch.setattr(generate, "load_pretrained_model", None)  # not reached: the flags are checked first
    with pytest.raises(SystemExit) as exit_info:
        generate.main(["--model", "gpt2", *flags])
    assert one_line_error(capsys, exit_info) == f"error: {expected}"


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--model", "gpt2", "--ckpt_path", "x.ckpt"], "argument --ckpt_path: not allowed with argument --model"),
        ([], "one of the arguments --ckpt_path --model is required"),
    ],
)
def test_model_and_checkpoint_exclude_each_other(argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        generate.main(argv)
    assert exit_info.value.code == 2 and expected in capsys.readouterr().err


def test_a_checkpoint_of_another_task_is_named_in_one_line(tmp_path, capsys):
    path = tmp_path / "classifier.ckpt"
    hparams = {"_class_path": "lightning_modules.classifier.TextClassifier", "vocab_size": 10}
    torch.save({"state_dict": {}, "pytorch-lightning_version": "2.6.0", "hyper_parameters": hparams}, path)
    with pytest.raises(SystemExit) as exit_info:
        generate.main(["--ckpt_path", str(path)])
    line = one_line_error(capsys, exit_info)
    assert line.startswith(f"error: {path} is a checkpoint of TextClassifier, not of a CausalLM")
