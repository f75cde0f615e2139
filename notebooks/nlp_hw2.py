# %% [markdown]
# # Averaged embeddings, a feed-forward network and attention (NLP homework 2), with the lab
#
# The homework classifies reviews from averaged GloVe vectors with logistic regression and with a tanh
# feed-forward network (dev accuracy about 0.739 and 0.749), works scaled dot-product attention through by hand
# on a tiny example in NumPy, writes it again in PyTorch, and classifies with attention over GloVe vectors,
# averaged and passed to a dense layer.
#
# `show(...)` prints a piece of the lab's code as this tree has it; `check(...)` runs the lab's tests for it. In
# a student copy (`lab-exercises copy OUT --course nlp-hw2`) the same cells show the stubs and fail until each is
# written. The three classifiers are `configs/reviews/logreg.yaml`, `ffnn.yaml` and `attention.yaml`, measured in
# `docs/results/sentiment.md` (on the homework's 1,000-review sample and a 10k-word GloVe, which is why they sit
# a little below the homework's figures).

# %%
import numpy as np
import torch

from programs.exercise_cells import check, show

# %% [markdown]
# ## 1. Attention in NumPy, on a tiny example
#
# Three tokens with two-dimensional queries, keys and values. The scores are Q Kᵀ / √d_k; each row's softmax
# says how much that token takes from each other token; the output is those weights times V.

# %%
show("numpy_attention")
check("numpy_attention")

# %%
from layers.numpy_attention import numpy_attention

q = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
k = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
v = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
out, weights = numpy_attention(q, k, v)
print("scores:\n", (q @ k.T / np.sqrt(2)).round(3))
print("weights (rows sum to 1):\n", weights.round(3))
print("output:\n", out.round(3))

# %% [markdown]
# ## 2. The same in PyTorch, and the two agree
#
# The PyTorch version is the lab's `scaled_dot_product_attention`, which its transformer uses; on the tiny
# example it gives NumPy's numbers, and `torch.nn.functional.scaled_dot_product_attention` gives them too:

# %%
show("scaled_dot_product_attention")
check("scaled_dot_product_attention")

# %%
from layers import scaled_dot_product_attention

tq, tk, tv = (torch.tensor(a) for a in (q, k, v))
ours, our_weights = scaled_dot_product_attention(tq, tk, tv)
np.testing.assert_allclose(ours.numpy(), out, rtol=1e-12)
np.testing.assert_allclose(our_weights.numpy(), weights, rtol=1e-12)
torch.testing.assert_close(ours, torch.nn.functional.scaled_dot_product_attention(tq, tk, tv))
print("NumPy, the lab and torch agree on the tiny example")

# %% [markdown]
# ## 3. Averaged embeddings against a bag of words
#
# Averaging word vectors keeps what the words mean but forgets their order and how often each occurs beside
# the others; a bag of words keeps the counts but knows nothing of meaning (two synonyms are unrelated
# columns). Two reviews that share no word can still be close once averaged:

# %%
vectors = {  # a toy 3-d embedding: the first axis is sentiment
    "great": [0.9, 0.1, 0.0], "superb": [0.8, 0.2, 0.1], "awful": [-0.9, 0.1, 0.0],
    "film": [0.0, 0.9, 0.2], "movie": [0.0, 0.8, 0.3], "plot": [0.0, 0.3, 0.9],
}  # fmt: skip
reviews = ["great film", "superb movie", "awful movie"]
vocabulary = sorted(vectors)
bags = np.array([[review.split().count(w) for w in vocabulary] for review in reviews], dtype=float)
means = np.array([np.mean([vectors[w] for w in review.split()], axis=0) for review in reviews])


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


for i, j in ((0, 1), (1, 2)):
    print(
        f"{reviews[i]!r} vs {reviews[j]!r}: bag of words {cosine(bags[i], bags[j]):.2f},"
        f" averaged vectors {cosine(means[i], means[j]):.2f}"
    )
