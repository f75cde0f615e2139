"""lab-demo in a real browser: the page of a tiny trained classifier and of a tiny trained language model, served
on a free loopback port, typed into and read back by a headless Chromium, checked against lab-sentiment's and
lab-generate's own functions; bad input in one line, on the page and on the command line."""

import functools
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import lightning as L
import pytest
import torch

from datamodules.imdb import IMDbDataModule
from datamodules.toy_grammar import ToyGrammarDataModule
from layers.transformer import TransformerConfig
from lightning_modules.causal_lm import CausalLM
from lightning_modules.classifier import FIGURE_TOKENS, TextClassifier
from lightning_modules.masked_lm import MaskedLM
from networks.classifier import EncoderClassifier
from networks.embedding_encoder import EmbeddingEncoder
from networks.encoder_sources import ScratchEncoder
from networks.heads import PooledHead
from programs import demo, generate, sentiment
from programs.demo_models import SentimentDemo, load_demo
from tests.browser import headless_chromium, offline_page

LAYERS, HEADS = 2, 2
REVIEW = "A wonderful film: the story was brilliant and moving."


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models' operations are too small to share between threads: on a busy 2-core machine two threads
    waiting for each other made the fits three times slower (3 s against 10 s for the classifier's)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fit_classifier(corpora: dict, folder: Path) -> str:
    """A 2-layer, 2-head transformer classifier fitted for ten epochs (30 steps) on the fixture IMDb, composed in
    Python as a config composes it (the CLI's parsing would cost more than the fit)."""
    L.seed_everything(0)
    data = IMDbDataModule(data_dir=str(corpora["imdb_tar"]), cache_dir=str(corpora["cache"]), val_size=4,
                          min_freq=1, batch_size=8)  # fmt: skip
    shape = TransformerConfig(d_model=16, n_heads=HEADS, n_layers=LAYERS, max_len=256, positions="learned")
    encoder = functools.partial(ScratchEncoder, transformer=shape)
    backbone = functools.partial(EncoderClassifier, encoder=encoder, head=functools.partial(PooledHead, pool="mean"))
    adamw = functools.partial(torch.optim.AdamW, lr=0.01)
    model = TextClassifier(backbone, data.vocab_size, optimizer=adamw, attention_examples=0)
    return fit_and_save(model, data, folder / "classifier.ckpt", epochs=10)


def fit_and_save(model: L.LightningModule, data: L.LightningDataModule, path: Path, epochs: int = 2) -> str:
    """`epochs` of training, then the checkpoint as the Trainer writes it: with the data's text encoder in it."""
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=path.parent)  # fmt: skip
    trainer.fit(model, data)
    trainer.save_checkpoint(path)
    return str(path)


def fit_language_model(folder: Path) -> str:
    """A one-block character LM fitted for two epochs of 20 steps on the toy grammar: it has learnt a few words
    (its greedy continuation is characters, not only spaces)."""
    L.seed_everything(0)
    data = ToyGrammarDataModule(train_chars=8000, val_chars=600, seq_len=32, batch_size=16, batches_per_epoch=20,
                                last_token_batches=1)  # fmt: skip
    shape = TransformerConfig(d_model=32, n_heads=2, n_layers=1, max_len=32, dropout=0.0)
    adamw = functools.partial(torch.optim.AdamW, lr=0.01)
    model = CausalLM(data.vocab_size, transformer=shape, optimizer=adamw, warmup_steps=0, sample_every_n_steps=0)
    return fit_and_save(model, data, folder / "lm.ckpt")


@pytest.fixture(scope="module")
def checkpoints(corpora, tmp_path_factory) -> dict[str, str]:
    """The two checkpoints the pages serve, fitted in seconds: a sentiment classifier and a language model."""
    folder = tmp_path_factory.mktemp("checkpoints")
    return {"classifier": fit_classifier(corpora, folder), "lm": fit_language_model(folder)}


@pytest.fixture(scope="module")
def browser():
    with headless_chromium() as chromium:
        yield chromium


def serve(checkpoint: str):
    """lab-demo's server for `checkpoint` on a free loopback port, running in a thread; stop with .shutdown()."""
    server = demo.make_server(load_demo(checkpoint), checkpoint, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def served(checkpoints):
    servers = {kind: serve(path) for kind, path in checkpoints.items()}
    yield {kind: server.url for kind, server in servers.items()}
    for server in servers.values():
        server.shutdown()
        server.server_close()


def submit(page, answers: int) -> None:
    """Click the form's button and wait until the page has drawn its `answers`-th answer."""
    page.click("#submit")
    page.wait_for_selector(f"body[data-answered='{answers}']", timeout=20_000)


def screenshot(page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a drawn page, not an empty image
    print(f"screenshot: {path}")


# Every attention cell the page drew, read off the DOM: panels[(layer, head)][q][k] = the weight it shows.
READ_PANELS = """() => [...document.querySelectorAll('.panel')].map(panel => ({
  layer: Number(panel.dataset.layer), head: Number(panel.dataset.head),
  caption: panel.querySelector('figcaption').textContent,
  cells: [...panel.querySelectorAll('rect.cell')].map(r => [Number(r.dataset.q), Number(r.dataset.k),
                                                           Number(r.dataset.w)]),
}))"""


def test_the_sentiment_page_shows_lab_sentiments_probability_and_every_heads_attention(
    checkpoints, served, browser, tmp_path
):
    outside = []
    page = offline_page(browser, outside)
    page.goto(served["classifier"])
    page.fill("#review", REVIEW)
    submit(page, 1)

    model = sentiment.load_classifier(checkpoints["classifier"])
    expected = sentiment.predict_sentiment(model, REVIEW)
    assert page.text_content("#probability") == f"{expected:.4f}"
    assert float(page.get_attribute("#probability", "data-probability")) == expected  # the whole value
    assert page.text_content("#verdict") == sentiment_verdict(expected)

    tokens, weights = sentiment.attention_weights(model, REVIEW)
    assert len(tokens) > 5 and len(weights) == LAYERS and all(w.shape[0] == HEADS for w in weights)
    panels = page.evaluate(READ_PANELS)
    assert sorted((p["layer"], p["head"]) for p in panels) == [(i, h) for i in range(LAYERS) for h in range(HEADS)]
    n = len(tokens)
    for panel in panels:
        assert panel["caption"] == f"layer {panel['layer']} · head {panel['head']}"
        shown = torch.zeros(n, n, dtype=torch.float64)
        for q, k, w in panel["cells"]:
            shown[q, k] = w
        assert len(panel["cells"]) == n * n
        torch.testing.assert_close(shown, weights[panel["layer"]][panel["head"]].double(), rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(shown.sum(-1), torch.ones(n, dtype=torch.float64))  # each query's row
    # The token labels: each panel's rows, then its columns, are the tokens the model read.
    labels = page.evaluate("() => [...document.querySelector('.panel svg').querySelectorAll('text')]"
                           ".map(t => t.textContent)")  # fmt: skip
    assert labels[0::2] == labels[1::2] == tokens

    screenshot(page, tmp_path / "sentiment.png")
    assert outside == []  # the page asked nothing of the network


def test_the_language_model_page_samples_what_lab_generate_samples(checkpoints, served, browser, tmp_path):
    outside = []
    page = offline_page(browser, outside)
    page.goto(served["lm"])
    prefix = "the cat "
    page.fill("#prefix", prefix)
    page.fill("#temperature", "0.7")
    page.fill("#top_k", "1")  # one candidate a step: greedy, whatever the temperature
    page.fill("#max_new_tokens", "40")
    submit(page, 1)
    ckpt = ["--ckpt_path", checkpoints["lm"], "--prompt", prefix, "--max-new-tokens", "40", "--device", "cpu"]
    (greedy,) = generate.main([*ckpt, "--temperature", "0"])
    assert page.text_content("#sample") == greedy and len(greedy) == len(prefix) + 40
    assert greedy[len(prefix) :].strip()  # a trained model's words, not a run of spaces
    assert page.text_content("#sample b") == prefix

    page.fill("#temperature", "1.3")
    page.fill("#top_k", "")
    page.fill("#top_p", "0.95")
    page.fill("#seed", "7")
    submit(page, 2)
    (sampled,) = generate.main([*ckpt, "--temperature", "1.3", "--top-p", "0.95", "--seed", "7"])
    assert page.text_content("#sample") == sampled != greedy  # lab-generate's draw for that seed
    screenshot(page, tmp_path / "language_model.png")

    page.fill("#prefix", "the cat Ω")  # a character the model never saw: the error line, on the page
    submit(page, 3)
    assert page.is_visible("#error") and "characters outside the model's vocabulary: 'Ω'" in page.text_content("#error")
    assert outside == []


def test_a_long_review_shows_its_first_tokens_and_a_model_without_attention_its_probability_alone(checkpoints):
    trained = sentiment.load_classifier(checkpoints["classifier"])
    long_review = " ".join([REVIEW] * 10)
    answer = SentimentDemo(trained).answer({"text": long_review})
    tokens, weights = sentiment.attention_weights(trained, long_review)
    attention = answer["attention"]
    assert attention["token_count"] == len(tokens) > FIGURE_TOKENS == len(attention["tokens"])
    assert attention["tokens"] == tokens[:FIGURE_TOKENS]
    for shown, layer in zip(attention["layers"], weights, strict=True):  # the top-left corner of each head's
        torch.testing.assert_close(torch.tensor(shown), layer[:, :FIGURE_TOKENS, :FIGURE_TOKENS])

    bag = functools.partial(EmbeddingEncoder, d_model=8)  # no mixer: no attention weights to show
    backbone = functools.partial(EncoderClassifier, encoder=bag, head=functools.partial(PooledHead, pool="mean"))
    pooled = TextClassifier(backbone, trained.text_encoder.vocab_size).eval()
    pooled.text_encoder_state = trained.text_encoder_state  # the same tokenizer and vocabulary
    answer = SentimentDemo(pooled).answer({"text": REVIEW})
    p = sentiment.predict_sentiment(pooled, REVIEW)
    assert answer == {"probability": p, "shown": f"{p:.4f}", "verdict": sentiment_verdict(p), "attention": None}


def sentiment_verdict(p: float) -> str:
    return "positive" if p >= 0.5 else "negative"


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url + "answer", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_a_request_that_is_not_the_forms_is_answered_with_its_one_line(served):
    assert post(served["classifier"], b"not json")[0] == 400
    not_an_object = "the request must be a JSON object of the form's fields"
    assert post(served["classifier"], b"[1, 2]") == (400, {"error": not_an_object})
    assert post(served["classifier"], b'{"text": "   "}') == (400, {"error": "the review is empty: type one"})
    assert post(served["lm"], b'{"top_k": "two"}') == (400, {"error": "top_k must be a whole number, got 'two'"})
    temperature = "temperature must be a finite number ≥ 0 (0 = greedy), got -1.0"  # the layers' own check
    assert post(served["lm"], b'{"temperature": "-1"}') == (400, {"error": temperature})
    assert post(served["lm"], b'{"max_new_tokens": "0"}') == (400, {"error": "max_new_tokens must be 1 to 2000, got 0"})


def one_line_error(capsys, exit_info) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 2, err  # the line, then the LAB_DEBUG hint
    return err[0]


def test_a_checkpoint_neither_a_classifier_nor_a_language_model_is_refused_in_one_line(tmp_path, capsys):
    masked_lm = MaskedLM(20, transformer=TransformerConfig(d_model=16, n_heads=2, n_layers=1, max_len=8))
    path = tmp_path / "mlm.ckpt"
    hparams = dict(masked_lm.hparams) | {"_class_path": "lightning_modules.masked_lm.MaskedLM"}
    torch.save({"state_dict": masked_lm.state_dict(), "pytorch-lightning_version": L.__version__,
                "hyper_parameters": hparams}, path)  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        demo.main([str(path)])
    assert one_line_error(capsys, exit_info) == (
        f"error: {path} is a checkpoint of MaskedLM: lab-demo serves a sentiment classifier (TextClassifier) or a "
        "language model (CausalLM); give the checkpoint of a run of one of those"
    )
    with pytest.raises(SystemExit) as exit_info:
        demo.main([str(tmp_path / "gone.ckpt")])
    assert one_line_error(capsys, exit_info) == f"error: {tmp_path / 'gone.ckpt'}: no such checkpoint file"


def test_a_port_in_use_is_named_in_one_line(checkpoints, served, capsys):
    port = served["lm"].rsplit(":", 1)[1].strip("/")
    with pytest.raises(SystemExit) as exit_info:
        demo.main([checkpoints["lm"], "--port", port, "--device", "cpu"])
    line = one_line_error(capsys, exit_info)
    assert line == f"error: cannot serve on 127.0.0.1:{port} (Address already in use): pick another --port or --host"
