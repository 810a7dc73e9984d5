"""Small, seeded learning tasks for physical systems.

Every loader returns a :class:`Dataset` with float64 arrays, a train/test split
fixed by an explicit ``seed``, and inputs standardised with *training* statistics
(zero mean, unit variance per feature, so no test information leaks into the
preprocessing). Inputs are then multiplied by ``input_scale``: a physical network
sees inputs as boundary voltages, forces or fields, and ``input_scale`` sets their
magnitude relative to the system's own scales.

Classification targets are one-hot float64 rows (``n_classes`` columns), the form a
cost on the outputs of a physical system reads; the integer labels are available as
:attr:`Dataset.labels_train` and :attr:`Dataset.labels_test`.

All data ship with scikit-learn or are generated; nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

__all__ = ["Dataset", "one_hot", "xor", "iris", "digits", "linear_regression", "sequences",
           "cluster_ising_phases", "load"]

TASKS = ("regression", "classification")


def _frozen_array(a, name: str) -> np.ndarray:
    """A read-only float64 copy of ``a`` (so a frozen Dataset really is immutable)."""
    a = np.array(a, dtype=np.float64, copy=True)
    if a.ndim not in (2, 3):
        raise ValueError(f"{name} must be 2-D (samples, features) or 3-D (samples, steps, "
                         f"features), got shape {a.shape}")
    a.flags.writeable = False
    return a


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A train/test split of a supervised task.

    Parameters
    ----------
    x_train, x_test : ndarray, shape (n_train, n_features), (n_test, n_features)
        Inputs (float64); sequences for trajectory systems are (n, n_steps, n_features).
    y_train, y_test : ndarray, shape (n_train, n_outputs), (n_test, n_outputs)
        Targets (float64), or (n, n_steps, n_outputs) for a trajectory read-out. For
        classification, one-hot rows with ``n_classes`` columns.
    task : {"regression", "classification"}
        Kind of task; decides whether accuracy is meaningful.
    n_classes : int, optional
        Number of classes (required for classification, None for regression).
    name : str, default "custom"
        Name used in run configs.
    meta : Mapping, optional
        Read-only extra information: standardisation statistics, feature and class
        names, the generating map of synthetic data, ...
    source : Mapping, optional
        The ``[data]`` config table that rebuilds the data set (``name`` and the loader's
        arguments); set by every loader of this module, empty for data built by hand.

    Raises
    ------
    ValueError
        If train and test arrays disagree in their trailing shapes or row counts, ``task`` is
        unknown, ``n_classes`` does not fit the task, or classification targets are not
        one-hot.

    Notes
    -----
    The arrays are stored as read-only copies; ``dataclasses.replace`` builds a
    modified dataset. Inputs are in the units the system reads (voltages, fields, strains,
    forces); the loaders standardise them to a unit scale and ``input_scale`` sets it.

    References
    ----------
    .. [1] F. Pedregosa et al., "Scikit-learn: machine learning in Python", J. Mach. Learn.
       Res. 12, 2825–2830 (2011) (the source of the iris and digits data).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str
    n_classes: int | None = None
    name: str = "custom"
    meta: Mapping = dataclasses.field(default_factory=dict)
    source: Mapping = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for field in ("x_train", "y_train", "x_test", "y_test"):
            object.__setattr__(self, field, _frozen_array(getattr(self, field), field))
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))
        object.__setattr__(self, "source", MappingProxyType(dict(self.source)))
        self._check_shapes()
        self._check_task()

    def _check_shapes(self) -> None:
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"x_{part} has {x.shape[0]} rows but y_{part} has {y.shape[0]}"
                )
        for part in ("x", "y"):
            train, test = getattr(self, f"{part}_train"), getattr(self, f"{part}_test")
            if train.shape[1:] != test.shape[1:]:
                raise ValueError(f"{part}_train rows have shape {train.shape[1:]} but "
                                 f"{part}_test rows have shape {test.shape[1:]}")

    def _check_task(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.task == "regression":
            if self.n_classes is not None:
                raise ValueError(f"n_classes must be None for regression, got {self.n_classes!r}")
            return
        if not isinstance(self.n_classes, (int, np.integer)) or self.n_classes < 2:
            raise ValueError(f"classification needs n_classes >= 2, got {self.n_classes!r}")
        for part in ("y_train", "y_test"):
            y = getattr(self, part)
            if y.shape[1] != self.n_classes:
                raise ValueError(
                    f"{part} must be one-hot with n_classes={self.n_classes} columns, "
                    f"got {y.shape[1]}"
                )
            if not (np.isin(y, (0.0, 1.0)).all() and (y.sum(axis=1) == 1.0).all()):
                raise ValueError(f"{part} must be one-hot (a single 1 per row)")

    # -- convenience --------------------------------------------------------------------
    @property
    def n_features(self) -> int:
        """Number of input features."""
        return self.x_train.shape[-1]

    @property
    def n_outputs(self) -> int:
        """Number of target columns (outputs the system must produce)."""
        return self.y_train.shape[-1]

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return self.x_train.shape[0]

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return self.x_test.shape[0]

    def _labels(self, y: np.ndarray) -> np.ndarray:
        if self.task != "classification":
            raise AttributeError(f"dataset {self.name!r} is a regression task: it has no labels")
        return np.argmax(y, axis=1).astype(np.int64)

    @property
    def labels_train(self) -> np.ndarray:
        """Integer class labels of the training set, shape (n_train,)."""
        return self._labels(self.y_train)

    @property
    def labels_test(self) -> np.ndarray:
        """Integer class labels of the test set, shape (n_test,)."""
        return self._labels(self.y_test)

    def validation(self, fraction: float = 0.2, seed: int = 0) -> Dataset:
        """A validation split carved from the training set, for choosing hyperparameters
        without looking at the test set.

        Parameters
        ----------
        fraction : float, default 0.2
            Share of the training samples held out, in (0, 1); stratified by class for a
            classification task.
        seed : int, default 0
            Seeds the shuffle.

        Returns
        -------
        Dataset
            The other training samples as its training set, the held-out ones as its test
            set; named ``"<name>/validation"``.
        """
        from sklearn.model_selection import train_test_split

        _check_test_size(fraction, "fraction")
        stratify = self.labels_train if self.task == "classification" else None
        x_fit, x_val, y_fit, y_val = train_test_split(
            self.x_train, self.y_train, test_size=fraction, random_state=_check_seed(seed),
            stratify=stratify)
        return Dataset(x_fit, y_fit, x_val, y_val, task=self.task, n_classes=self.n_classes,
                       name=self.name + "/validation")

    def __repr__(self) -> str:
        classes = f", n_classes={self.n_classes}" if self.n_classes is not None else ""
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}{classes}, "
            f"train={self.x_train.shape}->{self.y_train.shape[1]}, "
            f"test={self.x_test.shape}->{self.y_test.shape[1]})"
        )


# -- helpers ------------------------------------------------------------------------------


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """One-hot float64 encoding of integer labels.

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
        Class indices in ``[0, n_classes)``.
    n_classes : int
        Number of columns.

    Returns
    -------
    ndarray, shape (n, n_classes)
        Row ``i`` has a 1 in column ``labels[i]`` and 0 elsewhere (dimensionless).

    Raises
    ------
    IndexError
        If a label is outside ``[−n_classes, n_classes)``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    return np.eye(n_classes, dtype=np.float64)[labels]


def _standardise(x_train: np.ndarray, x_test: np.ndarray, input_scale: float):
    """Scale features with training mean/std; constant features (std 0) are only centred."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # e.g. digits' always-blank corner pixels
    scale = input_scale / std
    return (x_train - mean) * scale, (x_test - mean) * scale, {"mean": mean, "std": std}


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _check_input_scale(input_scale) -> float:
    if not np.isfinite(input_scale) or input_scale <= 0:
        raise ValueError(f"input_scale must be a finite number > 0, got {input_scale!r}")
    return float(input_scale)


def _check_test_size(test_size, name="test_size") -> float:
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.floating)) \
            or not 0.0 < test_size < 1.0:
        raise ValueError(f"{name} must be a fraction in (0, 1), got {test_size!r}")
    return float(test_size)


_SCALINGS = ("standard", "intensity")


def _classification(x, labels, *, name, seed, test_size, input_scale, meta,
                    scaling="standard", full_scale=None) -> Dataset:
    """Stratified seeded split, scaling and one-hot targets.

    ``scaling="standard"``: training mean 0 and standard deviation ``input_scale`` per
    feature. ``"intensity"``: ``input_scale · x / full_scale`` (pixel intensities in
    ``[0, input_scale]``, the MNIST convention).
    """
    if scaling not in _SCALINGS or (scaling == "intensity" and full_scale is None):
        raise ValueError(f"scaling={scaling!r} is not one of "
                         f"{list(_SCALINGS) if full_scale else ['standard']}")
    from sklearn.model_selection import train_test_split

    seed = _check_seed(seed)
    test_size = _check_test_size(test_size)
    input_scale = _check_input_scale(input_scale)
    n_classes = int(labels.max()) + 1
    x_train, x_test, l_train, l_test = train_test_split(
        np.asarray(x, dtype=np.float64), labels,
        test_size=test_size, random_state=seed, stratify=labels,
    )
    if scaling == "standard":
        x_train, x_test, stats = _standardise(x_train, x_test, input_scale)
    else:
        x_train, x_test = (input_scale / full_scale * x_train, input_scale / full_scale * x_test)
        stats = {"full_scale": float(full_scale)}
    return Dataset(
        x_train, one_hot(l_train, n_classes), x_test, one_hot(l_test, n_classes),
        task="classification", n_classes=n_classes, name=name,
        meta={**meta, **stats, "input_scale": input_scale, "seed": seed, "test_size": test_size,
              "scaling": scaling},
    )


# -- loaders ------------------------------------------------------------------------------


def _recorded(loader):
    """Record the loader's name and arguments in the data set's ``source`` (so a run
    directory's config can rebuild it)."""
    signature = inspect.signature(loader)

    @functools.wraps(loader)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        data = loader(*args, **kwargs)
        source = {"name": loader.__name__, **{k: v.item() if isinstance(v, np.generic) else v
                                             for k, v in bound.arguments.items()}}
        return dataclasses.replace(data, source=source)

    return wrapper


@_recorded
def xor(input_scale: float = 1.0, bias: float = 0.0) -> Dataset:
    """The four points of XOR on ±1 inputs, as two-class classification.

    The classic task a linear model cannot solve. Train and test sets are the same
    four points (there is nothing to generalise to).

    Parameters
    ----------
    input_scale : float, default 1.0
        Magnitude of the inputs, which are ``±input_scale`` (the ±1 points are
        already standardised).
    bias : float, default 0.0
        If non-zero, a third input that is ``bias`` for every point. A system whose
        response is odd in its inputs (``o(−x) = −o(x)``, e.g. oscillators started at
        rest from displacements ``x``) gives ``(1, 1)`` the opposite output of
        ``(−1, −1)``, which XOR puts in the same class: it learns XOR only with such a
        constant input.

    Returns
    -------
    Dataset
        ``x`` of shape (4, 2), or (4, 3) with a bias; class 1 where the two inputs differ.

    Raises
    ------
    ValueError
        If ``input_scale`` is not a finite number > 0 or ``bias`` is not finite.

    Notes
    -----
    The label is :math:`y = x_1 ⊕ x_2`: no hyperplane separates the classes, so a system
    whose output is linear in its inputs (a linear resistor network) cannot learn it, and a
    nonlinear one (diodes, an anharmonic potential, a sigmoid) can.

    References
    ----------
    .. [1] M. Minsky, S. Papert, *Perceptrons: An Introduction to Computational Geometry*,
       MIT Press (1969).
    """
    input_scale = _check_input_scale(input_scale)
    if not np.isfinite(bias):
        raise ValueError(f"bias must be a finite number, got {bias!r}")
    x = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    labels = np.array([0, 1, 1, 0])
    x, _, stats = _standardise(x, x, input_scale)
    if bias != 0:
        x = np.hstack([x, np.full((4, 1), float(bias))])
    y = one_hot(labels, 2)
    return Dataset(
        x, y, x, y, task="classification", n_classes=2, name="xor",
        meta={**stats, "input_scale": input_scale, "bias": float(bias)},
    )


@_recorded
def iris(seed: int = 0, test_size: float = 0.3, input_scale: float = 1.0) -> Dataset:
    """Fisher's iris flowers: 4 features, 3 classes, 150 samples (scikit-learn copy).

    Parameters
    ----------
    seed : int, default 0
        Seed of the stratified train/test split.
    test_size : float, default 0.3
        Fraction of samples held out for testing.
    input_scale : float, default 1.0
        Factor applied after standardisation (train-set mean 0, std ``input_scale``).

    Returns
    -------
    Dataset
        Three-class classification: 4 standardised features (sepal and petal length and
        width, originally in cm) and one-hot targets.

    Raises
    ------
    ValueError
        If ``seed`` is not a non-negative int, ``test_size`` is not in (0, 1) or
        ``input_scale`` is not a finite number > 0.

    Notes
    -----
    Each feature is scaled to :math:`(x − \\bar x_{\\text{train}})/σ_{\\text{train}} ·`
    ``input_scale`` with the training statistics (also applied to the test set); the split
    is stratified by class.

    References
    ----------
    .. [1] R. A. Fisher, "The use of multiple measurements in taxonomic problems", Ann.
       Eugenics 7, 179–188 (1936).
    """
    from sklearn.datasets import load_iris

    bunch = load_iris()
    meta = {"feature_names": list(bunch.feature_names), "target_names": list(bunch.target_names)}
    return _classification(
        bunch.data, bunch.target, name="iris", seed=seed, test_size=test_size,
        input_scale=input_scale, meta=meta,
    )


@_recorded
def digits(seed: int = 0, test_size: float = 0.2, input_scale: float = 1.0,
           scaling: str = "standard") -> Dataset:
    """Handwritten digits, 8×8 pixels: 64 features, 10 classes, 1797 samples.

    Parameters
    ----------
    seed : int, default 0
        Seed of the stratified train/test split.
    test_size : float, default 0.2
        Fraction of samples held out for testing.
    input_scale : float, default 1.0
        ``scaling="standard"``: factor applied after standardisation (pixels that are blank
        in every training image are centred but not rescaled). ``"intensity"``: the value
        of a full-intensity pixel.
    scaling : {"standard", "intensity"}, default "standard"
        ``"standard"``: every pixel to training mean 0, standard deviation ``input_scale``.
        ``"intensity"``: pixel intensities ``0…16`` mapped linearly onto
        ``[0, input_scale]``, the convention of MNIST in ``[0, 1]`` under which published
        input gains (e.g. of deep resistive networks) were tuned.

    Returns
    -------
    Dataset
        Ten-class classification: 64 pixel features and one-hot targets.

    Raises
    ------
    ValueError
        If ``seed`` is not a non-negative int, ``test_size`` is not in (0, 1),
        ``input_scale`` is not a finite number > 0, or ``scaling`` is unknown.

    Notes
    -----
    The 8×8 images are the UCI "optical recognition of handwritten digits" test set (pixel
    counts 0…16 of 4×4 blocks of 32×32 bitmaps), the small stand-in for MNIST on which the
    examples reproduce the papers' classification experiments on a CPU.

    References
    ----------
    .. [1] E. Alpaydin, C. Kaynak, "Optical recognition of handwritten digits", UCI Machine
       Learning Repository (1998).
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    meta = {"target_names": [int(t) for t in bunch.target_names]}
    return _classification(
        bunch.data, bunch.target, name="digits", seed=seed, test_size=test_size,
        input_scale=input_scale, meta=meta, scaling=scaling, full_scale=16.0,
    )


@_recorded
def linear_regression(
    n_samples: int = 200,
    n_inputs: int = 3,
    n_outputs: int = 2,
    noise: float = 0.0,
    gain: float = 0.4,
    seed: int = 0,
    test_size: float = 0.25,
    input_scale: float = 1.0,
) -> Dataset:
    """A random affine map ``y = x Aᵀ + b`` that a passive network can realise.

    A passive resistive network's node voltages are weighted averages of the
    voltages applied at its boundary, so it realises only linear maps of gain below
    one. With inputs applied differentially (``+x_j`` and ``−x_j`` on two terminals),
    negative coefficients are realisable too, and with a unit bias source the
    condition for output ``k`` is ``‖A_k‖₁ + |b_k| ≤ 1``. Hence each row of ``A`` is
    scaled to ℓ1 norm ``gain`` and ``b`` is drawn uniformly in
    ``[−(1−gain)/2, (1−gain)/2]``.

    Parameters
    ----------
    n_samples : int, default 200
        Total number of samples (train + test).
    n_inputs : int, default 3
        Number of input features.
    n_outputs : int, default 2
        Number of targets.
    noise : float, default 0.0
        Standard deviation of Gaussian noise added to ``y``.
    gain : float, default 0.4
        ℓ1 norm of each row of ``A``, in (0, 1).
    seed : int, default 0
        Seeds ``x``, ``A``, ``b``, the noise and the train/test split.
    test_size : float, default 0.25
        Fraction of samples held out for testing.
    input_scale : float, default 1.0
        Standard deviation of ``x`` (the map is applied to the scaled inputs, so it stays
        realisable): small inputs for systems that respond linearly only to small drives,
        such as the source strains of an elastic network.

    Returns
    -------
    Dataset
        Regression task. ``x`` is normal with standard deviation ``input_scale`` and, unlike
        the other loaders, is not re-standardised (so ``y = x Aᵀ + b`` holds exactly for
        ``noise=0``);
        ``y`` is not standardised. ``meta`` holds ``A``, ``b``, ``gain`` and ``noise``.

    Raises
    ------
    ValueError
        If a size is not a positive int (or ``n_samples < 2``), ``gain`` is outside (0, 1),
        ``noise`` is negative, or ``seed``, ``test_size`` or ``input_scale`` is invalid.

    Notes
    -----
    .. math::

        y = A x + b + σ ξ, \\qquad ‖A_k‖_1 = \\text{gain}, \\qquad
        |b_k| ≤ \\tfrac12 (1 − \\text{gain}),

    so :math:`‖A_k‖_1 + |b_k| ≤ 1`: every output is a weighted average of the boundary
    voltages ±x and a unit bias, which a passive resistor network can realise exactly
    (Kirchhoff's laws make its node voltages convex combinations of the source voltages).

    References
    ----------
    .. [1] M. Stern, D. Hexner, J. W. Rocks, A. J. Liu, "Supervised learning in physical
       networks: from machine learning to learning machines", Phys. Rev. X 11, 021045 (2021).
    """
    from sklearn.model_selection import train_test_split

    seed = _check_seed(seed)
    test_size = _check_test_size(test_size)
    for name, value in (("n_samples", n_samples), ("n_inputs", n_inputs), ("n_outputs", n_outputs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2 to split into train and test, got {n_samples}")
    if not 0.0 < gain < 1.0:
        raise ValueError(f"gain must lie in (0, 1) for a passive network, got {gain!r}")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    input_scale = _check_input_scale(input_scale)

    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n_outputs, n_inputs))
    A *= gain / np.abs(A).sum(axis=1, keepdims=True)
    half_width = (1.0 - gain) / 2.0
    b = rng.uniform(-half_width, half_width, size=n_outputs)
    x = input_scale * rng.standard_normal((n_samples, n_inputs))
    y = x @ A.T + b
    if noise > 0:
        y = y + noise * rng.standard_normal(y.shape)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed
    )
    return Dataset(
        x_train, y_train, x_test, y_test, task="regression", name="linear_regression",
        meta={"A": A, "b": b, "gain": float(gain), "noise": float(noise), "seed": seed,
              "input_scale": input_scale},
    )


@_recorded
def sequences(
    n_samples: int = 200,
    n_steps: int = 20,
    n_features: int = 1,
    n_outputs: int = 1,
    memory: float = 0.8,
    noise: float = 0.0,
    seed: int = 0,
    test_size: float = 0.25,
) -> Dataset:
    """Input sequences and a linear read-out of their exponentially filtered history.

    A task for trajectory systems (Hamiltonian recurrent units, oscillator chains): the
    target depends on the whole sequence, not only on its last step,

    .. math::

        h_t = m\\, h_{t−1} + x_t, \\qquad y = \\frac{B\\, h_T}{‖B‖}, \\qquad m = \\text{memory},

    with ``x_t`` standard normal (scaled by 0.5) and ``B`` a random Gaussian matrix.

    Parameters
    ----------
    n_samples : int, default 200
        Total number of sequences (train + test).
    n_steps : int, default 20
        Time steps per sequence.
    n_features : int, default 1
        Input channels per step.
    n_outputs : int, default 1
        Targets per sequence (read at the final step).
    memory : float, default 0.8
        Decay factor of the filter per step, in [0, 1).
    noise : float, default 0.0
        Standard deviation of Gaussian noise added to ``y``.
    seed : int, default 0
        Seeds the sequences, ``B``, the noise and the split.
    test_size : float, default 0.25
        Fraction of sequences held out for testing.

    Returns
    -------
    Dataset
        Regression task with ``x`` of shape (n, n_steps, n_features) and ``y`` of shape
        (n, n_outputs); ``meta`` holds ``B`` and ``memory``.

    Raises
    ------
    ValueError
        If a size is not a positive int, ``memory`` is outside [0, 1), ``noise`` is negative,
        or ``seed`` or ``test_size`` is invalid.

    Notes
    -----
    The memory of the target is about :math:`1/(1 − m)` steps (:math:`m^{T}` weights the
    first input), the kind of long-range dependency Hamiltonian echo learning is tested on.

    References
    ----------
    .. [1] G. Pourcel, M. Ernoult, "Learning long range dependencies through time reversal
       symmetry breaking", NeurIPS 2025, arXiv:2506.05259.
    """
    from sklearn.model_selection import train_test_split

    seed = _check_seed(seed)
    test_size = _check_test_size(test_size)
    for name, value in (("n_samples", n_samples), ("n_steps", n_steps),
                        ("n_features", n_features), ("n_outputs", n_outputs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not 0.0 <= memory < 1.0:
        raise ValueError(f"memory must lie in [0, 1), got {memory!r}")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    x = 0.5 * rng.standard_normal((n_samples, n_steps, n_features))
    decay = memory ** np.arange(n_steps - 1, -1, -1)
    history = np.einsum("t,ntf->nf", decay, x)
    B = rng.standard_normal((n_outputs, n_features))
    y = history @ B.T / np.linalg.norm(B)
    if noise > 0:
        y = y + noise * rng.standard_normal(y.shape)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size,
                                                        random_state=seed)
    return Dataset(x_train, y_train, x_test, y_test, task="regression", name="sequences",
                   meta={"B": B, "memory": float(memory), "seed": seed})


@_recorded
def cluster_ising_phases(n_samples: int = 200, seed: int = 0, test_size: float = 0.25) -> Dataset:
    """Cluster-Ising couplings on the triangle g_zxz + g_zz + g_x = 4, labelled by phase.

    The task of Wanjura & Marquardt's quantum phase sensor: inputs are the three couplings
    (not standardised: they are the physical couplings the chain is built with), classes are
    the three phases (:func:`physlearn.systems.spin_chain.cluster_ising_phases`).

    Parameters
    ----------
    n_samples : int, default 200
        Total number of coupling triples.
    seed : int, default 0
        Seeds the draws and the split.
    test_size : float, default 0.25
        Fraction held out for testing.

    Returns
    -------
    Dataset
        Three-class classification with 3 input features (couplings in units of J).

    Raises
    ------
    ValueError
        If ``seed`` is not a non-negative int or ``test_size`` is not in (0, 1).

    Notes
    -----
    The couplings of :math:`H = g_{zxz}\\sum_j Z_j X_{j+1} Z_{j+2} − g_{zz}\\sum_j Z_j Z_{j+1}
    − g_x\\sum_j X_j` are drawn uniformly on the triangle :math:`g_{zxz} + g_{zz} + g_x = 4`
    and labelled by the phase the infinite chain is in there.

    References
    ----------
    .. [1] C. C. Wanjura, F. Marquardt, "Quantum equilibrium propagation for efficient training
       of quantum systems based on Onsager reciprocity", Nat. Commun. 16, 6595 (2025),
       arXiv:2406.06482.
    """
    from sklearn.model_selection import train_test_split

    from physlearn.systems.spin_chain import cluster_ising_phases as draw

    seed = _check_seed(seed)
    test_size = _check_test_size(test_size)
    x, labels, y = draw(n_samples, seed=seed)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size,
                                                        random_state=seed)
    return Dataset(x_train, y_train, x_test, y_test, task="classification", n_classes=3,
                   name="cluster_ising_phases", meta={"seed": seed})


def load(name: str, **kwargs) -> Dataset:
    """Load a registered dataset by name (:data:`physlearn.registry.DATASETS`).

    Parameters
    ----------
    name : str
        A registered data-set name (case-insensitive; ``-`` may replace ``_``).
    **kwargs
        Passed to the loader (e.g. ``seed``, ``test_size``, ``input_scale``).

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        If ``name`` is unknown (the message lists the valid names).
    TypeError
        If a keyword is not accepted by that loader (the message lists the accepted ones).

    Examples
    --------
    >>> load("iris", seed=1).x_train.shape
    (105, 4)
    """
    from physlearn.registry import DATASETS

    key = name.lower().replace("-", "_") if isinstance(name, str) else name
    loader = DATASETS.entry(key).factory()
    accepted = list(inspect.signature(loader).parameters)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(f"dataset {key!r} does not accept {unknown}; its keywords are {accepted}")
    return loader(**kwargs)
