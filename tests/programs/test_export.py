"""lab-export round trips: a lab checkpoint → a Hugging Face folder → `transformers`' Auto classes compute the
lab model's outputs (logits, greedy generation, padded hidden states), give its token ids, and load back into
the lab (networks/pretrained.py) with the same outputs; the model card; bad input in one line.

The checkpoints are tiny lab models with random weights (every tensor drawn, biases and norms included, so a
misplaced tensor shows), written as a training run writes them: hyperparameters, text encoder, class path, in
a runs/…/version_0/checkpoints folder beside the run's config.yaml and TensorBoard scalars.
"""

import functools
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from torch.utils.tensorboard import SummaryWriter
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer, BertConfig, BertModel, GPT2LMHeadModel

from datamodules.encoders import ByteEncoder, CharEncoder, SubwordEncoder, WordEncoder
from datamodules.toy_grammar import generate_text
from datamodules.vocab import Vocabulary
from datamodules.yelp import train_wordpiece
from layers.generation import generate
from layers.transformer import TransformerConfig
from lightning_modules.causal_lm import CausalLM
from lightning_modules.classifier import TextClassifier
from lightning_modules.masked_lm import MaskedLM
from networks.classifier import EncoderClassifier
from networks.embedding_encoder import EmbeddingEncoder
from networks.encoder_sources import BertEncoder, HuggingFaceBertEncoder, ScratchEncoder
from networks.heads import PooledHead
from networks.pretrained import load_bert, load_gpt2
from programs import export
from tests.fixtures import acl_imdb_files
from tests.utils import assert_close

TINY = {"d_model": 16, "n_heads": 2, "n_layers": 2, "max_len": 48, "dropout": 0.0}
BERT_LIKE = {**TINY, "norm": "post", "embedding_norm": True}
TEXT, _ = generate_text(4000, seed=0)
REVIEWS = [d.decode("utf-8", errors="replace") for d in acl_imdb_files(4).values() if d][:12]


@functools.cache
def wordpiece():
    """A WordPiece of 200 sub-words fitted to the fixture reviews (once: the fitting is most of a classifier's cost)."""
    return train_wordpiece(REVIEWS, vocab_size=200)


def randomize(module: torch.nn.Module) -> None:
    """Every tensor drawn: norm gains around 1, biases and matrices around 0 (none left at its zero or one).
    Seeded here: a module-scoped fixture runs before the autouse seed, after whatever tests came first."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.2)


def fit_briefly(model: CausalLM, ids: list[int], steps: int = 60) -> None:
    """A few steps of next-token training on `ids`: greedy decoding of a random tied LM mostly repeats its
    input; a model that has seen the text continues it with varied tokens."""
    tokens = torch.tensor(ids)
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tensors this small gain nothing from threads, which on a busy CPU cost 20×
    try:
        for _ in range(steps):
            step(model, optimizer, tokens, generator)
    finally:
        torch.set_num_threads(threads)
    model.eval()


def step(model: CausalLM, optimizer: torch.optim.Optimizer, tokens: torch.Tensor, generator) -> None:
    """One Adam step on 16 random 32-token slices of `tokens`."""
    starts = torch.randint(0, len(tokens) - 33, (16,), generator=generator)
    batch = torch.stack([tokens[s : s + 33] for s in starts.tolist()])  # (16, 33)
    logits = model(batch[:, :-1])  # (16, 32, V)
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def save_run(root: Path, name: str, module: L.LightningModule, encoder, max_len: int | None, metrics=None) -> Path:
    """`module` as train.py leaves it: runs/<name>/version_0/checkpoints/last.ckpt, config.yaml, scalars."""
    run = root / "runs" / name / "version_0"
    (run / "checkpoints").mkdir(parents=True)
    checkpoint = {
        "state_dict": module.state_dict(),
        "pytorch-lightning_version": L.__version__,
        "hyper_parameters": dict(module.hparams),
        "epoch": 3,
        "global_step": 120,
        "model_class_path": f"{type(module).__module__}.{type(module).__qualname__}",
        "callbacks": {},
    }
    if encoder is not None:
        checkpoint["text_encoder"] = {**encoder.state_dict(), "max_len": max_len}
    for tag, value in (metrics or {}).items():
        checkpoint["callbacks"][f"ModelCheckpoint{{'monitor': '{tag}'}}"] = {
            "monitor": tag,
            "best_model_score": torch.tensor(value),
        }
        with SummaryWriter(str(run)) as writer:
            writer.add_scalar(tag, value + 0.25, 100)
            writer.add_scalar(tag, value, 120)
    (run / "config.yaml").write_text(yaml.safe_dump({"data": {"class_path": "my.data.Module", "init_args": {"n": 7}}}))
    path = run / "checkpoints" / "last.ckpt"
    torch.save(checkpoint, path)
    return path


def char_lm() -> tuple[CausalLM, CharEncoder]:
    encoder = CharEncoder(Vocabulary(sorted(set(TEXT))))
    model = CausalLM(encoder.vocab_size, transformer=TransformerConfig(**TINY), sample_every_n_steps=0)
    randomize(model)
    fit_briefly(model, encoder.encode(TEXT))
    return model.eval(), encoder


def byte_lm() -> tuple[CausalLM, ByteEncoder]:
    config = TransformerConfig(**{**TINY, "bias": False, "activation": "gelu_tanh", "eps": 1e-6, "d_ff": 40})
    model = CausalLM(256, transformer=config, sample_every_n_steps=0)
    randomize(model)
    fit_briefly(model, ByteEncoder().encode(TEXT))
    return model.eval(), ByteEncoder()


def word_mlm() -> tuple[MaskedLM, WordEncoder]:
    encoder = WordEncoder(Vocabulary(), tokenizer="whitespace", add_cls=True)
    encoder = WordEncoder(Vocabulary.build(encoder.tokens(REVIEWS[::2])), tokenizer="whitespace", add_cls=True)
    config = TransformerConfig(**{**BERT_LIKE, "positions": "sinusoidal", "activation": "relu"})
    model = MaskedLM(encoder.vocab_size, transformer=config)
    randomize(model)
    return model.eval(), encoder


def subword_classifier(head=PooledHead, source=None, **transformer) -> tuple[TextClassifier, SubwordEncoder]:
    """A classifier over a trained WordPiece; its encoder from scratch, or `source` (a BERT encoder factory)."""
    encoder = SubwordEncoder(wordpiece())
    scratch = functools.partial(ScratchEncoder, transformer=TransformerConfig(**{**BERT_LIKE, **transformer}))
    backbone = functools.partial(EncoderClassifier, encoder=source or scratch, head=head)
    model = TextClassifier(backbone, vocab_size=encoder.vocab_size)
    randomize(model)
    return model.eval(), encoder


def tiny_bert_folder(root: Path, vocab_size: int) -> str:
    """A random BertModel in a save_pretrained folder: the pretrained source of BERT-started classifiers."""
    config = BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=48)  # fmt: skip
    BertModel(config, add_pooling_layer=False).save_pretrained(root / "tiny-bert")
    return str(root / "tiny-bert")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each kind of checkpoint, exported once by lab-export's main(): {name: (model, encoder, ckpt, folder)}."""
    root = tmp_path_factory.mktemp("export")
    bert = tiny_bert_folder(root, SubwordEncoder(wordpiece()).vocab_size)
    made = {
        "char_lm": (*char_lm(), {"val/bpc": 1.5}),
        "byte_lm": (*byte_lm(), {}),
        "mlm": (*word_mlm(), {"val/loss": 2.0}),
        "classifier": (*subword_classifier(), {"val/acc": 0.75}),
        "bert_classifier": (*subword_classifier(source=functools.partial(BertEncoder, name_or_dir=bert)), {}),
        "hf_bert_classifier": (
            *subword_classifier(source=functools.partial(HuggingFaceBertEncoder, name_or_dir=bert)),
            {},
        ),
    }
    out = {}
    for name, (model, encoder, metrics) in made.items():
        ckpt = save_run(root, name, model, encoder, max_len=40, metrics=metrics)
        folder = root / f"{name}-hf"
        export.main(["--ckpt_path", str(ckpt), "--out", str(folder)])
        out[name] = (model, encoder, ckpt, folder)
    return out


def test_the_folder_holds_the_hugging_face_layout(exported, capsys):
    for _, _, _, folder in exported.values():
        names = {f.name for f in folder.iterdir()}
        assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"} <= names
    assert not list(exported["mlm"][3].parent.glob(".*"))  # no partial folder left behind


@pytest.mark.parametrize("name", ["char_lm", "byte_lm"])
def test_the_language_model_is_gpt2_with_the_same_logits_and_tokens(exported, name):
    model, encoder, _, folder = exported[name]
    hf = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    assert isinstance(hf, GPT2LMHeadModel)
    texts = [TEXT[:40], TEXT[500:530]]
    ids = [tokenizer(t).input_ids for t in texts]
    assert ids == [encoder.encode(t) for t in texts]
    with torch.no_grad():
        batch = torch.tensor([i[:30] for i in ids])
        assert_close(hf(batch).logits, model(batch))
        assert_close(load_gpt2(str(folder)).eval()(batch), model(batch))  # back into the lab


@pytest.mark.parametrize("name", ["char_lm", "byte_lm"])
def test_greedy_generation_is_the_labs(exported, name):
    model, encoder, _, folder = exported[name]
    hf = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    prompt = torch.tensor([encoder.encode(TEXT[:8])])
    theirs = hf.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False, max_new_tokens=30)
    ours = generate(model.net, prompt, 30, temperature=0.0)
    assert theirs.tolist() == ours.tolist()
    assert len(set(ours[0, 8:].tolist())) > 2  # a real sequence of choices, not one token repeated


@pytest.mark.parametrize("name", ["mlm", "classifier", "bert_classifier", "hf_bert_classifier"])
def test_the_encoder_is_bert_with_the_same_hidden_states_on_a_padded_batch(exported, name):
    model, encoder, _, folder = exported[name]
    lab_encoder = model.encoder if name == "mlm" else model.network.encoder
    hf = AutoModel.from_pretrained(folder, local_files_only=True, add_pooling_layer=False).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    assert isinstance(hf, BertModel)
    texts = [REVIEWS[1][:60], REVIEWS[2][:200], "good"]
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    ours = encoder.batch(texts, max_len=40)
    assert batch.input_ids.tolist() == ours["input_ids"].tolist()
    mask = ours["attention_mask"]
    assert batch.attention_mask.bool().tolist() == mask.tolist() and not mask.all()  # padded rows
    with torch.no_grad():
        expected = lab_encoder(ours["input_ids"], mask)  # (B, T, D)
        assert_close(hf(**batch).last_hidden_state[mask], expected[mask])
        assert_close(load_bert(str(folder)).eval()(ours["input_ids"], mask)[mask], expected[mask])


def test_the_model_card_says_what_was_trained_on_which_data_and_what_it_measured(exported):
    _, _, ckpt, folder = exported["char_lm"]
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\nlibrary_name: transformers\n")
    assert "causal language model (CausalLM)" in card and "`GPT2LMHeadModel`" in card and str(ckpt) in card
    assert "epoch 3, optimiser step 120" in card and "d_model: 16" in card and "class_path: my.data.Module" in card
    assert "| val/bpc (best, monitored) | 1.5000 | checkpoint |" in card
    assert "| val/bpc | 1.5000 | logged at step 120 |" in card
    assert f'AutoModelForCausalLM.from_pretrained("{folder}")' in card and f'load_gpt2("{folder}")' in card
    mlm_card = (exported["mlm"][3] / "README.md").read_text(encoding="utf-8")
    assert "Not exported: the masked-LM head" in mlm_card and "BertForMaskedLM" in mlm_card
    classifier_card = (exported["classifier"][3] / "README.md").read_text(encoding="utf-8")
    assert "the classification head (PooledHead)" in classifier_card


def one_line_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        export.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 2 and err[0].startswith("error: "), err
    return err[0]


def bad_checkpoints(root: Path) -> dict[str, Path]:
    encoder = SubwordEncoder(wordpiece())
    shallow = functools.partial(EncoderClassifier, encoder=EmbeddingEncoder, head=PooledHead)
    recurrent = {
        "class_path": "networks.recurrent_classifier.RecurrentClassifier",
        "init_args": {"embed_dim": 8, "hidden_size": 8},
    }
    char_encoder = CharEncoder(Vocabulary(sorted(set(TEXT))))
    lm = CausalLM(char_encoder.vocab_size, transformer=TINY, sample_every_n_steps=0)
    models = {
        "shallow": (TextClassifier(shallow, vocab_size=encoder.vocab_size), encoder),
        "recurrent": (TextClassifier(recurrent, vocab_size=encoder.vocab_size), encoder),
        "pre_norm": (subword_classifier(norm="pre")[0], encoder),
        "no_embedding_norm": (subword_classifier(embedding_norm=False)[0], encoder),
        "post_norm_lm": (CausalLM(lm.hparams.vocab_size, transformer={**TINY, "norm": "post"}), char_encoder),
        "no_tokenizer": (lm, None),
    }
    return {name: save_run(root, name, model, enc, max_len=40) for name, (model, enc) in models.items()}


def test_bad_input_is_one_line_and_writes_nothing(exported, tmp_path, capsys):
    ckpts = bad_checkpoints(tmp_path)
    expected = {
        "shallow": "the classifier's encoder is a EmbeddingEncoder, which has no Hugging Face twin",
        "recurrent": "is a classifier of a RecurrentClassifier, which has no Hugging Face twin",
        "pre_norm": "transformer norm: 'pre' has no BERT counterpart",
        "no_embedding_norm": "transformer embedding_norm: False has no BERT counterpart",
        "post_norm_lm": "transformer norm: 'post' has no GPT-2 counterpart",
        "no_tokenizer": "records no tokenizer",
    }
    for name, message in expected.items():
        out = tmp_path / f"{name}-hf"
        assert message in one_line_error(capsys, ["--ckpt_path", str(ckpts[name]), "--out", str(out)]), name
        assert not out.exists() and not list(tmp_path.glob(f".{name}-hf*"))
    existing = exported["char_lm"][3]
    line = one_line_error(capsys, ["--ckpt_path", str(exported["char_lm"][2]), "--out", str(existing)])
    assert line == f"error: {existing} (--out) exists: export into a new folder (nothing is overwritten)"
    line = one_line_error(capsys, ["--ckpt_path", str(tmp_path / "none.ckpt"), "--out", str(tmp_path / "x")])
    assert "none.ckpt: no such checkpoint file" in line


@pytest.mark.slow
def test_a_run_of_train_py_exports_and_generates_as_the_lab(corpora, cli_in_tmp_path, capsys):
    """The whole path on a checkpoint LightningCLI wrote (its own hyperparameter layout, config.yaml, logs):
    configs/toy_lm/transformer.yaml for one epoch of two steps on the fixture corpus, exported, sampled."""
    from lightning_modules.cli import LabCLI
    from programs.generate import load_checkpoint_model
    from tests.fixtures import config_overrides

    config = Path(__file__).resolve().parents[2] / "configs/toy_lm/transformer.yaml"
    small = ["--model.init_args.transformer.d_model", "32", "--model.init_args.transformer.n_layers", "1"]
    cli = LabCLI(
        args=["fit", "--config", str(config), *config_overrides(config, corpora), "--trainer.max_epochs", "1", *small]
    )
    ckpt = Path(cli.trainer.log_dir) / "checkpoints/last.ckpt"
    folder = cli_in_tmp_path / "toy-gpt2"
    export.main(["--ckpt_path", str(ckpt), "--out", str(folder)])
    lab = load_checkpoint_model(str(ckpt), "cpu")
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    hf = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    prompt = torch.tensor([lab.encode("the cat ")])
    assert tokenizer("the cat ").input_ids == prompt[0].tolist()
    theirs = hf.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False, max_new_tokens=20)
    assert theirs.tolist() == generate(lab.net, prompt, 20, temperature=0.0).tolist()
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "datamodules.toy_grammar.ToyGrammarDataModule" in card and "| val/bpc (best, monitored) |" in card
