"""The two pages lab-demo serves (programs/demo.py): a sentiment classifier's and a language model's.

Each is one self-contained HTML document: its style and script are inline and it loads nothing else (no font,
script or analytics from elsewhere), so it renders the same with no network. A form posts its fields as JSON
to /answer; the answer is drawn with DOM methods only (textContent, never innerHTML), so a review or a sample
cannot inject markup. What the browser test reads carries ids and data attributes: the probability
(#probability, its full value in data-probability), one .panel per layer and head (data-layer, data-head) whose
cells (rect.cell) hold their weight in data-w, the query in data-q and the key in data-k, and the sample
(#sample). body's data-answered counts the answers drawn, so a reader knows when one has arrived.
"""

from __future__ import annotations

import html

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.4rem; margin-bottom: 0.2rem; }
.checkpoint { color: #666; font-family: monospace; margin-top: 0; word-break: break-all; }
textarea { width: 100%; font: inherit; box-sizing: border-box; }
label { margin-right: 1rem; white-space: nowrap; }
input { width: 6rem; font: inherit; }
button { font: inherit; padding: 0.3rem 1.2rem; margin-top: 0.5rem; }
#error { color: #b00020; white-space: pre-wrap; }
#probability { font-size: 1.6rem; font-weight: bold; }
.layer { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-end; }
.panel { margin: 0; }
.panel figcaption { font-size: 0.85rem; text-align: center; }
.panel text { font-size: 10px; font-family: monospace; }
#sample { white-space: pre-wrap; background: #f4f4f4; padding: 0.8rem; border-radius: 4px; }
"""

# Posts the form's fields as JSON; an error answer (bad input: 400, a bug: 500) is shown in #error.
ASK = """
let answered = 0;
async function ask(fields) {
  const error = document.getElementById("error");
  error.hidden = true;
  let response;
  try {
    response = await fetch("/answer", {method: "POST", headers: {"Content-Type": "application/json"},
                                       body: JSON.stringify(fields)});
  } catch (err) {
    error.textContent = "the demo's server does not answer: " + err;
    error.hidden = false;
    return null;
  }
  const answer = await response.json();
  if (!response.ok) {
    error.textContent = answer.error;
    error.hidden = false;
    document.body.dataset.answered = ++answered;
    return null;
  }
  return answer;
}
function done() { document.body.dataset.answered = ++answered; }
"""

SENTIMENT_BODY = """
<form id="form">
  <textarea id="review" rows="4" placeholder="Type a review, e.g. A gripping film, beautifully acted."></textarea>
  <button id="submit" type="submit">Classify</button>
</form>
<p id="error" role="alert" hidden></p>
<section id="result" hidden>
  <p>P(positive) = <output id="probability"></output> <span id="verdict"></span></p>
  <p id="attention-note"></p>
  <div id="attention"></div>
</section>
"""

# Heatmaps in SVG, one row of heads per layer: queries down, keys across, from white (0) to dark blue (1), the
# training figures' fixed scale (lightning_modules/plots.py), shaded by √weight: over T tokens an even spread is
# 1/T each, which a linear shade would draw all but white.
SENTIMENT_SCRIPT = """
const SVG = "http://www.w3.org/2000/svg";
function svg(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}
function shade(w) {
  const t = Math.sqrt(Math.max(0, Math.min(1, w)));
  const mix = (a, b) => Math.round(a + (b - a) * t);
  return `rgb(${mix(255, 8)},${mix(255, 48)},${mix(255, 107)})`;
}
function panel(tokens, weights, layer, head) {
  const n = tokens.length, cell = Math.max(8, Math.min(22, Math.floor(320 / n)));
  const margin = 8 + 6 * Math.min(14, Math.max(...tokens.map(t => t.length)));
  const size = margin + n * cell;
  const picture = svg("svg", {width: size, height: size, viewBox: `0 0 ${size} ${size}`});
  tokens.forEach((token, i) => {
    const label = token.length > 14 ? token.slice(0, 13) + "…" : token;
    const row = svg("text", {x: margin - 4, y: margin + i * cell + cell * 0.7, "text-anchor": "end"});
    row.textContent = label;
    const x = margin + i * cell + cell * 0.7;
    const column = svg("text", {x: x, y: margin - 4, transform: `rotate(-90 ${x} ${margin - 4})`});
    column.textContent = label;
    picture.append(row, column);
  });
  weights.forEach((row, q) => row.forEach((w, k) => {
    const rect = svg("rect", {class: "cell", x: margin + k * cell, y: margin + q * cell, width: cell,
                              height: cell, fill: shade(w), "data-q": q, "data-k": k, "data-w": String(w)});
    const tip = svg("title", {});
    tip.textContent = `${tokens[q]} → ${tokens[k]}: ${w.toFixed(3)}`;
    rect.append(tip);
    picture.append(rect);
  }));
  const figure = document.createElement("figure");
  figure.className = "panel";
  figure.dataset.layer = layer;
  figure.dataset.head = head;
  const caption = document.createElement("figcaption");
  caption.textContent = `layer ${layer} · head ${head}`;
  figure.append(picture, caption);
  return figure;
}
document.getElementById("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await ask({text: document.getElementById("review").value});
  if (answer === null) return;
  const probability = document.getElementById("probability");
  probability.textContent = answer.shown;
  probability.dataset.probability = String(answer.probability);
  document.getElementById("verdict").textContent = answer.verdict;
  const drawing = document.getElementById("attention"), note = document.getElementById("attention-note");
  drawing.replaceChildren();
  const attention = answer.attention;
  if (attention === null) {
    note.textContent = "This model has no attention layers to show.";
  } else {
    const shown = attention.tokens.length;
    note.textContent = "Attention weights, one panel per layer and head: queries down, keys across; white is 0 " +
      "and dark blue 1, shaded by the weight's square root (hover over a cell for its value)" +
      (shown < attention.token_count ? `; the first ${shown} of ${attention.token_count} tokens.` : ".");
    attention.layers.forEach((heads, layer) => {
      const row = document.createElement("div");
      row.className = "layer";
      heads.forEach((weights, head) => row.append(panel(attention.tokens, weights, layer, head)));
      drawing.append(row);
    });
  }
  document.getElementById("result").hidden = false;
  done();
});
"""

LANGUAGE_MODEL_BODY = """
<form id="form">
  <textarea id="prefix" rows="3" placeholder="A prefix to continue (empty: the model's start)"></textarea>
  <p>
    <label>temperature <input id="temperature" type="number" min="0" step="any" value="0.8"></label>
    <label>top-k <input id="top_k" type="number" min="1" step="1" placeholder="all"></label>
    <label>top-p <input id="top_p" type="number" min="0" max="1" step="any" placeholder="1"></label>
    <label>new tokens <input id="max_new_tokens" type="number" min="1" step="1" value="200"></label>
    <label>seed <input id="seed" type="number" step="1" value="0"></label>
  </p>
  <button id="submit" type="submit">Sample</button>
</form>
<p id="error" role="alert" hidden></p>
<section id="result" hidden>
  <pre id="sample"></pre>
</section>
"""

LANGUAGE_MODEL_SCRIPT = """
const FIELDS = ["prefix", "temperature", "top_k", "top_p", "max_new_tokens", "seed"];
document.getElementById("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await ask(Object.fromEntries(FIELDS.map(id => [id, document.getElementById(id).value])));
  if (answer === null) return;
  const sample = document.getElementById("sample");
  sample.replaceChildren();
  if (answer.text.startsWith(answer.prompt)) {  // the prefix in bold, then what the model wrote
    const prompt = document.createElement("b");
    prompt.textContent = answer.prompt;
    sample.append(prompt, answer.text.slice(answer.prompt.length));
  } else {
    sample.textContent = answer.text;
  }
  document.getElementById("result").hidden = false;
  done();
});
"""


def page(title: str, checkpoint: str, body: str, script: str) -> str:
    """A whole HTML document: `title` and the checkpoint's path (escaped), then the body and its script."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lab-demo: {html.escape(title)}</title>
<link rel="icon" href="data:,">
<style>{STYLE}</style>
</head>
<body data-answered="0">
<h1>{html.escape(title)}</h1>
<p class="checkpoint">{html.escape(checkpoint)}</p>
{body}
<script>{ASK}{script}</script>
</body>
</html>
"""


def sentiment_page(checkpoint: str) -> str:
    return page("Sentiment", checkpoint, SENTIMENT_BODY, SENTIMENT_SCRIPT)


def language_model_page(checkpoint: str) -> str:
    return page("Language model", checkpoint, LANGUAGE_MODEL_BODY, LANGUAGE_MODEL_SCRIPT)
