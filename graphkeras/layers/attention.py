"""Attention layers: ``Attention`` (dot-product, Luong), ``AdditiveAttention``
(Bahdanau) and ``MultiHeadAttention``, with tf.keras 2.x arguments, weights,
configs and masking.

Masks reach them as tf.keras' do: ``Attention``/``AdditiveAttention`` take
``mask=[query_mask, value_mask]`` (filled from the inputs' ``_keras_mask`` by the
framework); ``MultiHeadAttention`` reads the ``_keras_mask`` of ``query``,
``value`` and ``key`` itself and merges them with ``attention_mask`` and the causal
mask. Everything is written on ``gk.ops`` (projections as ``einsum``), so the
layers run eagerly, compile to ONNX for any sequence length, and differentiate.
"""
from __future__ import annotations

import collections.abc
import math
import string

import numpy as np

from graphkeras import initializers, regularizers
from graphkeras.compiler import ops
from graphkeras.compiler.ops.linalg import arange_like
from graphkeras.engine.base_layer import Layer, get_mask
from graphkeras.layers.activation import Softmax
from graphkeras.layers.core import Dropout, SeedGenerator, constraint_config, register
from graphkeras.layers.einsum_dense import EinsumDense

_CHR_IDX = string.ascii_lowercase


def _swap_last(x):
    rank = len(x.shape)
    return ops.transpose(x, tuple(range(rank - 2)) + (rank - 1, rank - 2))


def _lower_triangular(rows_of, rows_axis, cols_of, cols_axis):
    """Boolean ``(rows, cols)`` with True where ``row >= col``; sizes read at run time."""
    rows = ops.expand_dims(arange_like(rows_of, rows_axis), -1)
    cols = arange_like(cols_of, cols_axis)
    return ops.greater_equal(rows, cols)


def _dropout(x, rate, rng):
    keep = ops.greater_equal(ops.hash_uniform(x, rng.next_key()), np.float32(rate))
    scale = np.asarray(1.0 / (1.0 - rate), dtype=x.dtype)
    return ops.where(keep, ops.multiply(x, scale), np.zeros((), x.dtype))


def _rename_weights(layer, prefix, strip=None):
    """Name ``layer``'s weights as tf.keras does for a sublayer built inside its parent:
    ``<parent>/<sublayer>/<weight>`` (or, with ``strip``, the sublayer's own name
    replaced by the parent's)."""
    for w in layer.weights:
        name = w.name
        if strip is not None and name.startswith(strip + "/"):
            name = name[len(strip) + 1:]
        if not name.startswith(prefix + "/"):
            w.name = f"{prefix}/{name}"


# ---------------------------------------------------------------- dense attention
class BaseDenseAttention(Layer):
    """Shared by ``Attention`` and ``AdditiveAttention``: scores, masks, softmax,
    dropout, and the weighted sum of values."""

    def __init__(self, dropout=0.0, **kwargs):
        self.causal = kwargs.pop("causal", False)  # deprecated in tf.keras: use_causal_mask
        super().__init__(**kwargs)
        self.dropout = dropout
        self.supports_masking = True
        self._rng = SeedGenerator(None, f"{self.name}/seed_generator")

    def _calculate_scores(self, query, key):
        raise NotImplementedError  # abstract: each attention layer scores differently

    def _apply_scores(self, scores, value, scores_mask=None, training=None):
        if scores_mask is not None:
            padding = ops.cast(ops.logical_not(scores_mask), scores.dtype)
            big = 65504.0 if scores.dtype == "float16" else 1.0e9
            scores = ops.subtract(scores, ops.multiply(np.asarray(big, scores.dtype), padding))
        weights = ops.softmax(scores, axis=-1)
        if self.dropout > 0 and training:  # the returned scores are the dropped ones too
            weights = _dropout(weights, self.dropout, self._rng)
        return ops.matmul(weights, value), weights

    def call(self, inputs, mask=None, training=None, return_attention_scores=False,
             use_causal_mask=False):
        self._validate_call_args(inputs=inputs, mask=mask)
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        q_mask = mask[0] if mask else None
        v_mask = mask[1] if mask else None
        scores = self._calculate_scores(query=q, key=k)
        if v_mask is not None:
            v_mask = ops.expand_dims(ops.cast(v_mask, "bool"), -2)
        causal = None
        if self.causal or use_causal_mask:
            causal = _lower_triangular(scores, -2, scores, -1)
        if v_mask is None:
            scores_mask = causal
        else:
            scores_mask = v_mask if causal is None else ops.logical_and(v_mask, causal)
        result, attention_scores = self._apply_scores(scores, v, scores_mask, training)
        if q_mask is not None:
            q_mask = ops.expand_dims(q_mask, -1)
            result = ops.multiply(result, ops.cast(q_mask, result.dtype))
        if return_attention_scores:
            return result, attention_scores
        return result

    def compute_mask(self, inputs, mask=None):
        self._validate_call_args(inputs=inputs, mask=mask)
        if mask:
            return mask[0]
        return None

    def _validate_call_args(self, inputs, mask):
        class_name = type(self).__name__
        if not isinstance(inputs, list):
            raise ValueError(f"{class_name} layer must be called on a list of inputs, namely "
                             f"[query, value] or [query, value, key]. Received: {inputs}.")
        if len(inputs) < 2 or len(inputs) > 3:
            raise ValueError(f"{class_name} layer accepts inputs list of length 2 or 3, namely "
                             f"[query, value] or [query, value, key]. Received length: "
                             f"{len(inputs)}.")
        if mask is not None:
            if not isinstance(mask, list):
                raise ValueError(f"{class_name} layer mask must be a list, namely "
                                 f"[query_mask, value_mask]. Received: {mask}.")
            if len(mask) < 2 or len(mask) > len(inputs):
                raise ValueError(f"{class_name} layer mask must be a list of length 2, namely "
                                 f"[query_mask, value_mask]. Received length: {len(mask)}.")

    def get_config(self):
        return {**super().get_config(), "dropout": self.dropout}


@register
class Attention(BaseDenseAttention):
    """Dot-product attention: ``softmax(q @ k^T) @ v`` (``score_mode="concat"``:
    ``sum(tanh(q + k))`` scores)."""

    def __init__(self, use_scale=False, score_mode="dot", **kwargs):
        super().__init__(**kwargs)
        self.use_scale = use_scale
        self.score_mode = score_mode
        if self.score_mode not in ["dot", "concat"]:
            raise ValueError(f"Received: score_mode={score_mode}. Acceptable values are: "
                             '["dot", "concat"]')

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(), initializer="ones",
                                     dtype=self.dtype, trainable=True) if self.use_scale else None
        self.concat_score_weight = self.add_weight(
            name="concat_score_weight", shape=(), initializer="ones", dtype=self.dtype,
            trainable=True) if self.score_mode == "concat" else None
        self.built = True

    def _calculate_scores(self, query, key):
        if self.score_mode == "dot":
            scores = ops.matmul(query, _swap_last(key))
            if self.scale is not None:
                scores = ops.multiply(scores, self.scale)
            return scores
        q = ops.expand_dims(query, -2)
        k = ops.expand_dims(key, -3)
        summed = ops.add(q, k)
        if self.scale is not None:
            summed = ops.multiply(self.scale, summed)
        return ops.multiply(self.concat_score_weight, ops.sum(ops.tanh(summed), axis=-1))

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale,
                "score_mode": self.score_mode}


@register
class AdditiveAttention(BaseDenseAttention):
    """Additive (Bahdanau) attention: scores ``sum(scale * tanh(q + k))``."""

    def __init__(self, use_scale=True, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = use_scale

    def build(self, input_shape):
        if not (isinstance(input_shape, list) and len(input_shape) > 1
                and isinstance(input_shape[1], (list, tuple))):
            self.built = True  # not [query, value, ...]: call() says so
            return
        dim = input_shape[1][-1]
        self.scale = self.add_weight(name="scale", shape=[dim], initializer="glorot_uniform",
                                     dtype=self.dtype, trainable=True) if self.use_scale else None
        self.built = True

    def _calculate_scores(self, query, key):
        t = ops.tanh(ops.add(ops.expand_dims(query, -2), ops.expand_dims(key, -3)))
        if self.use_scale:
            t = ops.multiply(self.scale, t)
        return ops.sum(t, axis=-1)

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale}


# ------------------------------------------------------------ multi-head attention
def _build_attention_equation(rank, attn_axes):
    """Einsum equations of the query-key product and of the combination with the
    values, for projected tensors ``(batch dims, attention dims, heads, channels)``."""
    target = _CHR_IDX[:rank]
    batch_dims = [i for i in range(rank) if i not in attn_axes and i != rank - 1]
    source = ""
    offset = rank
    for i in range(rank):
        if i in batch_dims or i == rank - 1:
            source += target[i]
        else:
            source += _CHR_IDX[offset]
            offset += 1
    product = "".join([target[i] for i in batch_dims] + [target[i] for i in attn_axes]
                      + [source[i] for i in attn_axes])
    return f"{source},{target}->{product}", f"{product},{source}->{target}", len(product)


def _build_proj_equation(free_dims, bound_dims, output_dims):
    """``(free..., bound...) x (bound..., out...) -> (free..., out...)``, bias on ``out``."""
    letters = iter(_CHR_IDX)
    free = "".join(next(letters) for _ in range(free_dims))
    bound = "".join(next(letters) for _ in range(bound_dims))
    out = "".join(next(letters) for _ in range(output_dims))
    return f"{free}{bound},{bound}{out}->{free}{out}", out, free_dims + output_dims


def _get_output_shape(output_rank, known_last_dims):
    return [None] * (output_rank - len(known_last_dims)) + list(known_last_dims)


def _shape_list(x):
    if x is None:
        return None
    shape = x.shape if hasattr(x, "shape") else x
    return [None if d is None else int(d) for d in shape]


@register
class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al.) as tf.keras 2.x: query/key/value
    projections ``EinsumDense`` sublayers named ``query``, ``key``, ``value`` and an
    output projection ``attention_output``."""

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 softmax_robust_masking=False, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.supports_masking = True
        self._num_heads = num_heads
        self._key_dim = key_dim
        self._value_dim = value_dim if value_dim else key_dim
        self._dropout = dropout
        self._use_bias = use_bias
        self._output_shape = output_shape
        self._kernel_initializer = initializers.get(kernel_initializer)
        self._bias_initializer = initializers.get(bias_initializer)
        self._kernel_regularizer = regularizers.get(kernel_regularizer)
        self._bias_regularizer = regularizers.get(bias_regularizer)
        self._kernel_constraint = kernel_constraint
        self._bias_constraint = bias_constraint
        self._softmax_robust_masking = softmax_robust_masking
        if attention_axes is not None and not isinstance(attention_axes, collections.abc.Sized):
            self._attention_axes = (attention_axes,)
        else:
            self._attention_axes = attention_axes
        self._built_from_signature = False
        self._query_shape, self._key_shape, self._value_shape = None, None, None

    def get_config(self):
        return {**super().get_config(), "num_heads": self._num_heads, "key_dim": self._key_dim,
                "value_dim": self._value_dim, "dropout": self._dropout,
                "use_bias": self._use_bias, "output_shape": self._output_shape,
                "attention_axes": self._attention_axes,
                "kernel_initializer": initializers.serialize(self._kernel_initializer),
                "bias_initializer": initializers.serialize(self._bias_initializer),
                "kernel_regularizer": regularizers.serialize(self._kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self._bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": constraint_config(self._kernel_constraint),
                "bias_constraint": constraint_config(self._bias_constraint),
                "query_shape": self._query_shape, "key_shape": self._key_shape,
                "value_shape": self._value_shape,
                "softmax_robust_masking": self._softmax_robust_masking}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        query_shape = config.pop("query_shape", None)
        key_shape = config.pop("key_shape", None)
        value_shape = config.pop("value_shape", None)
        layer = cls(**config)
        if None not in (query_shape, key_shape, value_shape):
            layer._build_from_signature(query_shape, value_shape, key_shape)
        return layer

    # building ---------------------------------------------------------
    def _track(self, layer):
        self._layers.append(layer)
        return layer

    def _sublayer_kwargs(self):
        def clone(init):
            return type(init).from_config(init.get_config()) if hasattr(init, "get_config") \
                else init
        return dict(kernel_regularizer=self._kernel_regularizer,
                    bias_regularizer=self._bias_regularizer,
                    activity_regularizer=self.activity_regularizer,
                    kernel_constraint=self._kernel_constraint,
                    bias_constraint=self._bias_constraint, dtype=self.dtype,
                    kernel_initializer=clone(self._kernel_initializer),
                    bias_initializer=clone(self._bias_initializer))

    def _projection(self, shape, heads_dim, name):
        equation, bias_axes, output_rank = _build_proj_equation(len(shape) - 1, bound_dims=1,
                                                                output_dims=2)
        layer = EinsumDense(equation,
                            output_shape=_get_output_shape(output_rank - 1,
                                                           [self._num_heads, heads_dim]),
                            bias_axes=bias_axes if self._use_bias else None, name=name,
                            **self._sublayer_kwargs())
        return self._track(layer), output_rank

    def _build_from_signature(self, query, value, key=None):
        """Create the sublayers and their weights for inputs of these shapes."""
        self._built_from_signature = True
        self._query_shape = _shape_list(query)
        self._value_shape = _shape_list(value)
        self._key_shape = self._value_shape if key is None else _shape_list(key)
        query_shape, key_shape, value_shape = (tuple(self._query_shape), tuple(self._key_shape),
                                               tuple(self._value_shape))
        free_dims = len(query_shape) - 1
        self._query_dense, output_rank = self._projection(query_shape, self._key_dim, "query")
        self._key_dense, _ = self._projection(key_shape, self._key_dim, "key")
        self._value_dense, _ = self._projection(value_shape, self._value_dim, "value")
        self._build_attention(output_rank)
        self._output_dense = self._make_output_dense(free_dims, self._sublayer_kwargs(),
                                                     "attention_output")
        # weights now, named as tf.keras names them (<this layer>/<sublayer>/<weight>)
        heads = query_shape[:-1] + (self._num_heads, self._value_dim)
        for layer, shape in ((self._query_dense, query_shape), (self._key_dense, key_shape),
                             (self._value_dense, value_shape), (self._output_dense, heads)):
            if not layer.built:
                layer._build_with(shape)
            _rename_weights(layer, self.name)

    def _make_output_dense(self, free_dims, common_kwargs, name=None):
        if self._output_shape:
            output_shape = self._output_shape if isinstance(self._output_shape,
                                                            collections.abc.Sized) \
                else [self._output_shape]
        else:
            output_shape = [self._query_shape[-1]]
        equation, bias_axes, output_rank = _build_proj_equation(
            free_dims, bound_dims=2, output_dims=len(output_shape))
        return self._track(EinsumDense(equation,
                                       output_shape=_get_output_shape(output_rank - 1,
                                                                      output_shape),
                                       bias_axes=bias_axes if self._use_bias else None,
                                       name=name, **common_kwargs))

    def _build_attention(self, rank):
        if self._attention_axes is None:
            self._attention_axes = tuple(range(1, rank - 2))
        else:
            self._attention_axes = tuple(self._attention_axes)
        self._dot_product_equation, self._combine_equation, scores_rank = \
            _build_attention_equation(rank, attn_axes=self._attention_axes)
        norm_axes = tuple(range(scores_rank - len(self._attention_axes), scores_rank))
        self._softmax = self._track(Softmax(axis=norm_axes,
                                            robust_masking=self._softmax_robust_masking,
                                            dtype=self.dtype))
        self._dropout_layer = self._track(Dropout(rate=self._dropout, dtype=self.dtype))

    # computing --------------------------------------------------------
    def _masked_softmax(self, attention_scores, attention_mask=None):
        if attention_mask is not None:
            axis = -len(self._attention_axes) * 2 - 1
            for _ in range(len(attention_scores.shape) - len(attention_mask.shape)):
                attention_mask = ops.expand_dims(attention_mask, axis)
        return self._softmax(attention_scores, attention_mask)

    def _compute_attention(self, query, key, value, attention_mask=None, training=None):
        query = ops.multiply(query, np.asarray(1.0 / math.sqrt(float(self._key_dim)),
                                               dtype=query.dtype))
        attention_scores = ops.einsum(self._dot_product_equation, key, query)
        attention_scores = self._masked_softmax(attention_scores, attention_mask)
        dropped = self._dropout_layer(attention_scores, training=training)
        attention_output = ops.einsum(self._combine_equation, dropped, value)
        return attention_output, attention_scores

    def call(self, query, value, key=None, attention_mask=None, return_attention_scores=False,
             training=None, use_causal_mask=False):
        if not self._built_from_signature:
            self._build_from_signature(query=query, value=value, key=key)
        if key is None:
            key = value
        attention_mask = self._compute_attention_mask(query, value, key=key,
                                                      attention_mask=attention_mask,
                                                      use_causal_mask=use_causal_mask)
        query = self._query_dense(query)
        key = self._key_dense(key)
        value = self._value_dense(value)
        attention_output, attention_scores = self._compute_attention(query, key, value,
                                                                     attention_mask, training)
        attention_output = self._output_dense(attention_output)
        if return_attention_scores:
            return attention_output, attention_scores
        return attention_output

    def _compute_attention_mask(self, query, value, key=None, attention_mask=None,
                                use_causal_mask=False):
        """``attention_mask`` merged (logical and) with the inputs' masks (query
        ``[B, T, 1]``, value and key ``[B, 1, S]``: a new axis 2, resp. 1, as tf.keras
        inserts them) and the causal mask ``[1, T, S]``."""
        query_mask, value_mask, key_mask = get_mask(query), get_mask(value), get_mask(key)
        auto_mask = None
        if query_mask is not None:
            auto_mask = ops.expand_dims(ops.cast(query_mask, "bool"), 2)  # query_mask[:, :, None]
        for m in (value_mask, key_mask):
            if m is not None:
                m = ops.expand_dims(ops.cast(m, "bool"), 1)
                auto_mask = m if auto_mask is None else ops.logical_and(auto_mask, m)
        if use_causal_mask:
            m = self._compute_causal_mask(query, value)
            auto_mask = m if auto_mask is None else ops.logical_and(auto_mask, m)
        if auto_mask is not None:
            attention_mask = auto_mask if attention_mask is None else \
                ops.logical_and(ops.cast(attention_mask, "bool"), auto_mask)
        return attention_mask

    def _compute_causal_mask(self, query, value=None):
        """Lower-triangular ``[1, T, S]`` boolean mask (T, S the sequence lengths)."""
        value = query if value is None else value
        return ops.expand_dims(_lower_triangular(query, 1, value, 1), 0)

    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        if key_shape is None:
            key_shape = value_shape
        query_shape, value_shape, key_shape = (tuple(query_shape), tuple(value_shape),
                                               tuple(key_shape))
        if query_shape[-1] != value_shape[-1]:
            raise ValueError("The last dimension of `query_shape` and `value_shape` must be "
                             f"equal, but are {query_shape[-1]}, {value_shape[-1]}. "
                             "Received: query_shape={query_shape}, value_shape={value_shape}")
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ValueError("All dimensions of `value` and `key`, except the last one, must be "
                             f"equal. Received {value_shape} and {key_shape}")
        if self._output_shape:
            extra = self._output_shape if isinstance(self._output_shape,
                                                     collections.abc.Sized) \
                else [self._output_shape]
            return query_shape[:-1] + tuple(extra)
        return query_shape
