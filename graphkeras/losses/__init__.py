"""Losses with tf.keras 2.x semantics and numerics, written on ``gk.ops``.

Every loss runs eagerly on numpy arrays and traces into the train-step graph.
The functions (``mean_squared_error``, ``binary_crossentropy``, ...) return
per-sample losses; the classes (``MeanSquaredError``, ...) reduce them with
``sample_weight`` and ``reduction`` as tf.keras' ``compute_weighted_loss`` does:

* ``"sum_over_batch_size"`` (what ``"auto"`` means): the sum of the weighted
  losses divided by their NUMBER OF ELEMENTS (not by the sum of the weights);
* ``"sum"``: the sum of the weighted losses;
* ``"none"``: the weighted per-sample losses.

Probabilities are clipped to ``[epsilon, 1 - epsilon]`` (``backend.epsilon()``,
1e-7) before logs; a symbolic ``y_pred`` made by a sigmoid/softmax activation
carries its logits (``y_pred._keras_logits``) and the cross-entropies use the
stable logits formulas then, as tf.keras does.

The code lives in ``base`` (``Loss``, ``LossFunctionWrapper``, reduction,
(de)serialization), ``regression``, ``probabilistic`` and ``hinge_losses``;
every public name is importable from ``graphkeras.losses``.
"""
from graphkeras.losses.base import (  # noqa: F401
    Loss, LossFunctionWrapper, Reduction, ReductionV2, compute_weighted_loss, deserialize, get,
    reduce_weighted_loss, remove_squeezable_dimensions, serialize, squeeze_or_expand_dimensions)
from graphkeras.losses.regression import (  # noqa: F401
    CosineSimilarity, Huber, LogCosh, MAE, MAPE, MSE, MSLE, MeanAbsoluteError,
    MeanAbsolutePercentageError, MeanSquaredError, MeanSquaredLogarithmicError,
    cosine_similarity, huber, huber_loss, log_cosh, logcosh, mae, mape, mean_absolute_error,
    mean_absolute_percentage_error, mean_squared_error, mean_squared_logarithmic_error, mse,
    msle)
from graphkeras.losses.probabilistic import (  # noqa: F401
    BinaryCrossentropy, BinaryFocalCrossentropy, CategoricalCrossentropy,
    CategoricalFocalCrossentropy, KLD, KLDivergence, Poisson, SparseCategoricalCrossentropy,
    binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy,
    categorical_focal_crossentropy, is_categorical_crossentropy, kl_divergence, kld,
    kullback_leibler_divergence, poisson, sparse_categorical_crossentropy)
from graphkeras.losses.hinge_losses import (  # noqa: F401
    CategoricalHinge, Hinge, SquaredHinge, categorical_hinge, hinge, squared_hinge)
