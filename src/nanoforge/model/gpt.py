"""A GPT-2-style decoder-only transformer, whole in one file, read top-down.

    idx (B, T) -> wte + wpe -> drop -> n_layer x Block -> ln_f -> lm_head -> logits (B, T, V)

Each `Block` is causal self-attention then an MLP, each wrapped in a residual connection
and a LayerNorm. Where the LayerNorm sits is `GPTConfig.norm_position`:

- `pre` (GPT-2): `x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))`, and a final `ln_f`
  normalises the residual stream before `lm_head`.
- `post` (the original Transformer, GPT-1): `x = ln_1(x + attn(x)); x = ln_2(x + mlp(x))`.
  Every block already ends in a LayerNorm, so `ln_f` is `nn.Identity` (no parameters):
  a second norm right after `ln_2` of the last block would only rescale it again.

Attention has two paths that compute the same thing. By default it is
`F.scaled_dot_product_attention` (fused kernels on GPU, less memory). With
`return_attn=True` it is the textbook computation, softmax(mask(q·kᵀ/√hs))·v, which also
hands back the attention weights (for plots); tests check the two paths agree.

Shapes in comments: B batch, T sequence length, C = n_embd, nh = n_head,
hs = C // nh (head size), V = vocab_size.

Generation runs the model one token at a time with a `KVCache`: the keys and values of
the tokens seen so far, kept per layer so that a new token attends to them without
recomputing them. It lives here because attention reads and writes it; the generation
loop itself is in `nanoforge.infer`.

Deliberately absent: optimizer setup (train/), sampling (infer/), loading OpenAI's weights.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nanoforge.errors import ConfigError

NormPosition = Literal["pre", "post"]
Activation = Literal["gelu", "relu"]

INIT_STD = 0.02
"""Standard deviation of GPT-2's initialisation of every Linear and Embedding weight."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


# ------------------------------------------------------------------------- config


@dataclass(frozen=True)
class GPTConfig:
    """The model's shape and its ablation switches (params.yaml section `model`).

    Values are checked here; types and unknown keys are checked where params are read
    (`nanoforge.config.build`, for params.yaml and a checkpoint's config.json alike).
    """

    SECTION: ClassVar[str] = "model"

    vocab_size: int = 512
    """Token ids the model reads and predicts; must match the tokenizer's vocabulary."""
    block_size: int = 128
    """Longest sequence (context length) the model accepts; sizes the position table."""
    n_layer: int = 4
    """Transformer blocks stacked on top of each other."""
    n_head: int = 4
    """Attention heads per block; each sees n_embd // n_head channels."""
    n_embd: int = 128
    """Width of the residual stream (embedding size, C)."""
    dropout: float = 0.0
    """Dropout probability on embeddings, attention weights and residual branches (training)."""
    bias: bool = True
    """Biases in Linear layers and LayerNorms (GPT-2 has them; False is a bit faster)."""
    norm_position: NormPosition = "pre"
    """`pre`: LayerNorm before each sublayer, plus a final ln_f (GPT-2); `post`: after the
    residual sum (original Transformer), no ln_f."""
    tie_weights: bool = True
    """Share one matrix between the token embedding (wte) and the output layer (lm_head)."""
    pos_emb: bool = True
    """Learned absolute position embeddings (wpe); False is the `no_pos_emb` ablation, where
    the causal mask is the only source of position information."""
    activation: Activation = "gelu"
    """The MLP's non-linearity: `gelu` (exact, erf-based) or `relu` (the `relu` ablation)."""

    def __post_init__(self) -> None:
        s = self.SECTION
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            _require(value > 0, f"{s}.{name} must be positive (got {value})")
        _require(
            self.n_embd % self.n_head == 0,
            f"{s}.n_embd must be divisible by {s}.n_head (got {self.n_embd} and {self.n_head})",
        )
        _require(0 <= self.dropout < 1, f"{s}.dropout must be >= 0 and < 1 (got {self.dropout})")
        for name, choices in (
            ("norm_position", get_args(NormPosition)),
            ("activation", get_args(Activation)),
        ):
            value = getattr(self, name)
            _require(
                value in choices,
                f"{s}.{name} must be one of {' | '.join(choices)} (got {value!r})",
            )

    def to_dict(self) -> dict[str, Any]:
        """Every field by name: what a checkpoint's config.json holds."""
        return asdict(self)


# ---------------------------------------------------------------------- KV cache


class KVCache:
    """Every layer's keys and values for the first `length` positions of a sequence.

    Preallocated to `block_size` positions, so a long generation never grows memory and
    a step costs one write per layer. `GPT.forward(idx, cache=cache)` reads positions
    `[0, length)`, appends idx's T positions and advances `length` by T.
    """

    def __init__(
        self, config: GPTConfig, batch_size: int, device: torch.device, dtype: torch.dtype
    ) -> None:
        hs = config.n_embd // config.n_head
        shape = (config.n_layer, batch_size, config.n_head, config.block_size, hs)
        self.k = torch.zeros(shape, device=device, dtype=dtype)  # (L, B, nh, block, hs)
        self.v = torch.zeros(shape, device=device, dtype=dtype)  # (L, B, nh, block, hs)
        self.length = 0

    @property
    def capacity(self) -> int:
        return self.k.size(3)

    def reset(self) -> None:
        """Forget every position (the buffers are reused, not zeroed: they are overwritten)."""
        self.length = 0


def _causal_mask(T: int, S: int, device: torch.device) -> Tensor:
    """(T, S) True where query i may attend key j: the T queries are the last T of S positions."""
    rows = torch.arange(S - T, S, device=device).unsqueeze(1)  # (T, 1) absolute positions
    return torch.arange(S, device=device) <= rows  # (T, S)


# ------------------------------------------------------------------------ modules


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t attends only to positions <= t."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.dropout = config.dropout
        # q, k and v for all heads in one matmul, then the heads' outputs mixed back.
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        x: Tensor,
        return_attn: bool = False,
        kv: tuple[Tensor, Tensor] | None = None,
        start: int = 0,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend; also return the weights (B, nh, T, S) when asked, else None.

        Without a cache S = T. With `kv`, this layer's (k, v) buffers of a `KVCache`
        (B, nh, block_size, hs) holding positions [0, start), x's keys and values are
        written at [start, start + T) and the queries attend to all S = start + T.
        The weights returned are the softmax probabilities before attention dropout
        (each row sums to 1); in training mode the output uses them after dropout.
        """
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        if kv is not None:
            k_all, v_all = kv
            k_all[:, :, start : start + T] = k
            v_all[:, :, start : start + T] = v
            k, v = k_all[:, :, : start + T], v_all[:, :, : start + T]  # (B, nh, S, hs)
        S = k.size(2)

        weights = None
        if return_attn:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(hs)  # (B, nh, T, S)
            allowed = _causal_mask(T, S, x.device)  # (T, S)
            scores = scores.masked_fill(~allowed, float("-inf"))  # (B, nh, T, S)
            weights = F.softmax(scores, dim=-1)  # (B, nh, T, S)
            y = self.attn_dropout(weights) @ v  # (B, nh, T, hs)
        else:
            dropout_p = self.dropout if self.training else 0.0
            if S == T:  # no cached past: the plain causal mask
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout_p)
            else:  # queries sit at the end of S keys; one new token may see them all
                mask = None if T == 1 else _causal_mask(T, S, x.device)  # (T, S)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
            # y: (B, nh, T, hs)

        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C): heads side by side
        y = self.resid_dropout(self.c_proj(y))  # (B, T, C)
        return y, weights


class MLP(nn.Module):
    """Position-wise feed-forward: widen 4x, non-linearity, project back."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.act = nn.GELU() if config.activation == "gelu" else nn.ReLU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.c_fc(x))  # (B, T, 4C)
        x = self.c_proj(x)  # (B, T, C)
        return self.dropout(x)


class Block(nn.Module):
    """One transformer layer: attention then MLP, each with a residual and a LayerNorm."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.pre_norm = config.norm_position == "pre"
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(
        self,
        x: Tensor,
        return_attn: bool = False,
        kv: tuple[Tensor, Tensor] | None = None,
        start: int = 0,
    ) -> tuple[Tensor, Tensor | None]:
        if self.pre_norm:
            a, weights = self.attn(self.ln_1(x), return_attn, kv, start)
            x = x + a  # (B, T, C)
            x = x + self.mlp(self.ln_2(x))  # (B, T, C)
        else:
            a, weights = self.attn(x, return_attn, kv, start)
            x = self.ln_1(x + a)  # (B, T, C)
            x = self.ln_2(x + self.mlp(x))  # (B, T, C)
        return x, weights


# -------------------------------------------------------------------------- model


class GPT(nn.Module):
    """The language model: token ids in, next-token logits (and optionally the loss) out."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        C = config.n_embd
        parts: dict[str, nn.Module] = {"wte": nn.Embedding(config.vocab_size, C)}
        if config.pos_emb:
            parts["wpe"] = nn.Embedding(config.block_size, C)
        parts["drop"] = nn.Dropout(config.dropout)
        parts["h"] = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        pre = config.norm_position == "pre"
        parts["ln_f"] = nn.LayerNorm(C, bias=config.bias) if pre else nn.Identity()
        self.transformer = nn.ModuleDict(parts)
        self.lm_head = nn.Linear(C, config.vocab_size, bias=False)
        if config.tie_weights:
            # One Parameter, two uses: row i embeds token i and scores token i.
            self.lm_head.weight = self.transformer.wte.weight

        self.apply(self._init_weights)
        # GPT-2: each block adds two projections into the residual stream, so their
        # weights are scaled down by sqrt(2 * n_layer) to keep its variance in check.
        residual_std = INIT_STD / math.sqrt(2 * config.n_layer)
        for block in self.transformer.h:
            nn.init.normal_(block.attn.c_proj.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.mlp.c_proj.weight, mean=0.0, std=residual_std)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # LayerNorms keep PyTorch's init: weight 1, bias 0.
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(
        self,
        idx: Tensor,
        targets: Tensor | None = None,
        return_attn: bool = False,
        cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor | None] | tuple[Tensor, Tensor | None, list[Tensor]]:
        """Logits for every position, and the loss when targets are given.

        idx: (B, T) token ids, T <= block_size. targets: (B, T) ids of the next tokens,
        -1 where a position should not count. Returns `(logits, loss)`, logits (B, T, V) and
        loss the mean cross-entropy (a scalar) or None; with `return_attn`, also a list of
        each layer's attention weights (B, nh, T, S), computed on the manual path.

        With a `cache` holding the first `cache.length` positions, idx continues the
        sequence there (its positions are cache.length + 0..T-1), attends to the cached
        past, and is appended to the cache; S = cache.length + T before the call.
        """
        start = 0 if cache is None else cache.length
        seq_len, block_size = idx.size(1), self.config.block_size
        if start + seq_len > block_size:
            raise ValueError(
                f"sequence of {start + seq_len} tokens is longer than model.block_size "
                f"({block_size}); crop it to the last {block_size}"
            )
        x = self.transformer.wte(idx)  # (B, T, C)
        if self.config.pos_emb:
            pos = torch.arange(start, start + seq_len, device=idx.device)  # (T,)
            x = x + self.transformer.wpe(pos)  # (B, T, C) + (T, C)
        x = self.transformer.drop(x)  # (B, T, C)

        attn: list[Tensor] = []
        for layer, block in enumerate(self.transformer.h):
            kv = None if cache is None else (cache.k[layer], cache.v[layer])
            x, weights = block(x, return_attn, kv, start)  # (B, T, C), (B, nh, T, S) or None
            if weights is not None:
                attn.append(weights)
        if cache is not None:
            cache.length = start + seq_len
        x = self.transformer.ln_f(x)  # (B, T, C)
        logits = self.lm_head(x)  # (B, T, V)

        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.flatten(0, 1),  # (B*T, V)
                targets.flatten(),  # (B*T,)
                ignore_index=-1,
            )
        return (logits, loss, attn) if return_attn else (logits, loss)

    # ----------------------------------------------------------------- accounting

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters, each shared one counted once (a tied lm_head is wte).

        non_embedding leaves out the lookup tables wte and wpe, as scaling laws count N
        (Kaplan et al. 2020). An untied lm_head is a matmul, not a lookup: it stays in.
        """
        n = sum(p.numel() for p in self.parameters())  # parameters() yields shared ones once
        if non_embedding:
            n -= self.transformer.wte.weight.numel()
            if self.config.pos_emb:
                n -= self.transformer.wpe.weight.numel()
        return n

    @property
    def param_counts(self) -> dict[str, int]:
        """Both counts, for reports: `{"total": ..., "non_embedding": ...}`."""
        return {
            "total": self.num_params(non_embedding=False),
            "non_embedding": self.num_params(non_embedding=True),
        }

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Estimated training FLOPs (forward + backward) per token: 6·N + 12·L·T·C.

        N counts the weights each token is multiplied through: the non-embedding parameters,
        plus lm_head when it is tied to wte (it is still a V x C matmul); each costs 2 FLOPs
        forward and 4 backward. 12·L·T·C is attention's q·kᵀ and weights·v at context T
        (seq_len, default block_size), counted over the full T x T as PaLM's appendix B does,
        though causal masking skips about half. MFU = flops_per_token * tokens/s / peak FLOP/s.
        """
        c = self.config
        T = c.block_size if seq_len is None else seq_len
        n = self.num_params(non_embedding=True)
        if c.tie_weights:
            n += self.lm_head.weight.numel()
        return 6 * n + 12 * c.n_layer * T * c.n_embd
