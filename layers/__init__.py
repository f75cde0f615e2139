"""Hand-built layers: plain torch.nn.Modules, each proven equal to a reference implementation."""

from layers.attention import (
    MultiHeadAttention,
    SelfAttention,
    SimpleSelfAttention,
    attention_weights,
    scaled_dot_product_attention,
)
from layers.blocked_attention import blocked_attention
from layers.blocks import FeedForward, TransformerBlock
from layers.causal_attention import causal_attention
from layers.kv_cache import KVCache
from layers.norm import LayerNorm
from layers.position import LearnedPositionEmbedding, SinusoidalPositionEncoding, sinusoidal_table
from layers.recurrent import LSTM, LSTMDecoder, LSTMEncoder
from layers.transformer import TransformerConfig, TransformerEncoder, TransformerLM, TransformerStack

__all__ = [
    "LSTM",
    "FeedForward",
    "KVCache",
    "LSTMDecoder",
    "LSTMEncoder",
    "LayerNorm",
    "LearnedPositionEmbedding",
    "MultiHeadAttention",
    "SelfAttention",
    "SimpleSelfAttention",
    "SinusoidalPositionEncoding",
    "TransformerBlock",
    "TransformerConfig",
    "TransformerEncoder",
    "TransformerLM",
    "TransformerStack",
    "attention_weights",
    "blocked_attention",
    "causal_attention",
    "scaled_dot_product_attention",
    "sinusoidal_table",
]
