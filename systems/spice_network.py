"""A resistor/diode circuit whose equilibria come from ngspice: EP with a simulator in the loop.

:class:`SpiceNetwork` wraps an in-process circuit model (a
:class:`~physlearn.systems.ResistorNetwork` or a
:class:`~physlearn.systems.diode.NonlinearResistorNetwork`) that provides the topology, the
trainable conductances and the netlist. Every relaxation the learning rules ask for — the free
state, a soft nudge, a clamp — is a DC operating point computed by ngspice, and the local
measurement ``½ ΔV²`` per resistor is taken from the branch voltages ngspice writes back. The
in-process model is only used to *evaluate* things at ngspice's voltages (the energy, its
derivatives, the exact reference): it never relaxes. This is how a hardware team uses
physlearn: the rules see a circuit only a simulator (or a chip) knows.
"""

from __future__ import annotations

import time

import numpy as np

from physlearn.costs import CrossEntropy, SquaredError
from physlearn.nudges import Clamp, Nudge
from physlearn.system import ConvergenceError, EquilibriumSystem

from .resistor import SPICE_RAW_FILE, ResistorNetwork
from .solvers import check_nudge_stability
from .spice import INSTALL_HINT, ngspice_available, operating_point

_ELEMENTS = ("B", "D")
#: the precision options of :meth:`ResistorNetwork.to_spice` (ngspice's point to ~1e-12 V)
SPICE_OPTIONS = ".options RELTOL=1e-9 ABSTOL=1e-15 VNTOL=1e-12 GMIN=1e-18 ITL1=500"


class SpiceNetwork(EquilibriumSystem):
    """A resistor (and diode) circuit trained with ngspice's DC operating points in the loop.

    Parameters
    ----------
    circuit : ResistorNetwork or NonlinearResistorNetwork
        The in-process description of the circuit: topology, inputs, outputs, diodes and the
        trainable conductances. The SpiceNetwork *shares* its parameters (training one trains
        the other), so after training ``circuit`` is the digital twin of the trained circuit.
    executable : str, default "ngspice"
        The ngspice program (looked up on the ``PATH``).
    shockley_element : {"B", "D"}, default "B"
        How Shockley diodes are written into the netlist. ``"B"``: a behavioural current source
        ``I = I_s (exp(V/(n V_T)) − 1)``, exactly the in-process law, so ngspice's operating
        point is the in-process equilibrium up to ngspice's tolerances (~1e-14 V). ``"D"``:
        SPICE's junction diode (``.model D(IS, N)``, what :meth:`ResistorNetwork.to_spice`
        writes): ngspice's diode model replaces the exponential below ``−3 n V_T`` by a cubic
        approach to ``−I_s``, so a reverse-biased diode carries up to ``I_s (3 n V_T/(e|u|))³``
        less current than Shockley's law and the operating points differ by ~1e-9 V;
        :meth:`residual` shows by how much. A series resistance ``R_s`` is a resistor between
        the anode and the junction in both forms (the same law). Ignored for the smooth law
        (always a ``B`` source). Other laws (the ideal diode) are written as the circuit's
        :meth:`to_spice` writes them: ngspice then simulates its approximation of the law.
    timeout : float, default 120.0
        Seconds (> 0) one ngspice run (one whole batch) may take.

    Raises
    ------
    ValueError
        If ``circuit`` is not a resistor network, ``shockley_element`` is unknown, or
        ``timeout`` is not a finite number of seconds > 0.
    RuntimeError
        If the ngspice ``executable`` is not on the ``PATH``.

    Attributes
    ----------
    last_run_seconds : float or None
        Wall time of the latest ngspice run (one batch, one phase).

    Notes
    -----
    **Why ngspice's operating point is the energy minimum.** ngspice solves Kirchhoff's
    current law at every node by Newton's method (modified nodal analysis). For a circuit of
    two-terminal elements with monotone current–voltage curves, the net current leaving a
    free node is the derivative of the total co-content (Millar 1951)

    .. math::

        E(g, x, V) = \\tfrac12 \\sum_e g_e (V_a − V_b)^2 + \\sum_d \\int_0^{u_d} i_D(u)\\,du,

    so KCL is ``∂E/∂V = 0``; ``E`` is strictly convex, hence the DC operating point is its
    unique minimum — the free state of equilibrium propagation.

    **The nudge is a current source at the outputs.** A soft nudge ``β C(o, y)`` adds the
    force ``β ∂C/∂o`` to KCL at the outputs: a behavioural current source
    ``B… out 0 I = β ∂C/∂V(out)`` (drawing that current out of the node) whose co-content
    ``∫ β ∂C/∂o do`` is ``β C``. For the squared error ``C = ½ Σ (o − y)²`` it is
    ``I = β (V(out) − y)``, the co-content ``½ β (V − y)²`` of a conductance ``β`` from the
    output to a voltage source at ``y`` (Kendall et al. 2020). Negative ``β`` (needed by
    centered EP) is a negative conductance, which the ``B`` form writes directly. With
    ``β < 0`` ``E + βC`` can lose its minimum; ngspice would then return a saddle, so the
    nudged Hessian is checked at ngspice's point and a :class:`~physlearn.ConvergenceError`
    says when the nudged circuit has no stable operating point. The cross-entropy's force
    ``β (softmax(o/T)·Σy − y)/T`` is written the same way (a softmax of node voltages);
    other costs are refused. A clamp is a voltage source at each output.

    **One netlist per batch.** The samples of a batch are disjoint copies of the circuit
    (node names suffixed ``_b<sample>``, sharing the ground node ``0``) in one netlist with
    one ``.op``: one ngspice process solves the whole batch, and its raw file is parsed back.
    The options are those of :meth:`~physlearn.systems.ResistorNetwork.to_spice`
    (``RELTOL=1e-9 ABSTOL=1e-15 VNTOL=1e-12``) plus ``ITL1=500`` iterations.

    **What is measured and what is modelled.** ``equilibrium`` returns ngspice's voltages;
    ``outputs`` and ``param_gradient`` (``½ ΔV²`` per resistor, in V²) are read from them.
    ``energy``, ``energy_gradient``, ``output_vjp``, ``adjoint`` and ``mixed_vjp`` are the
    wrapped model's, evaluated at ngspice's voltages, so ``exact_gradient`` (implicit
    differentiation at ngspice's free point) serves as a reference and ``residual`` is the
    current (A) by which ngspice's point violates the in-process model's KCL.

    Units: volts, siemens (``R = 1/g`` ohms in the netlist) and amperes; for the squared error
    ``β`` is a conductance in siemens. Complex ``β`` is refused: a DC operating point is real.

    References
    ----------
    .. [1] J. Kendall et al., "Training end-to-end analog neural networks with equilibrium
       propagation", arXiv:2006.01981 (2020).
    .. [2] B. Scellier, "A fast algorithm to simulate nonlinear resistive networks",
       ICML 2024, arXiv:2402.11674.
    .. [3] W. Millar, "Some general theorems for non-linear systems possessing resistance",
       Phil. Mag. 42, 1150 (1951).

    Examples
    --------
    >>> from physlearn.systems.spice_network import SpiceNetwork
    >>> net = SpiceNetwork.layered([2, 4, 1], seed=0)              # doctest: +SKIP
    >>> net.predict([[0.5, -0.2]]).shape                           # doctest: +SKIP
    (1, 1)
    """

    capabilities = frozenset({"soft_nudge", "clamp"})

    def __init__(self, circuit: ResistorNetwork, *, executable: str = "ngspice",
                 shockley_element: str = "B", timeout: float = 120.0):
        if not isinstance(circuit, ResistorNetwork):
            raise ValueError(f"circuit={circuit!r} must be a ResistorNetwork or a "
                             "NonlinearResistorNetwork (the in-process description of the "
                             "circuit ngspice simulates)")
        if not (isinstance(shockley_element, str) and shockley_element in _ELEMENTS):
            raise ValueError(f"shockley_element={shockley_element!r} is not one of "
                             f"{list(_ELEMENTS)}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
                or not (np.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout={timeout!r} must be a finite number of seconds > 0")
        if not isinstance(executable, str) or not ngspice_available(executable):
            raise RuntimeError(f"SpiceNetwork needs ngspice: executable={executable!r} is not "
                               f"on the PATH; install it (Debian/Ubuntu: {INSTALL_HINT})")
        self.circuit = circuit
        self.executable = executable
        self.shockley_element = shockley_element
        self.timeout = timeout
        self.last_run_seconds = None

    # -- the circuit's description, shared ----------------------------------------------------
    @property
    def _params(self):
        return self.circuit._params

    @_params.setter
    def _params(self, value):
        self.circuit._params = value

    @property
    def param_shapes(self):
        return self.circuit.param_shapes

    @property
    def param_bounds(self):
        """The circuit's: conductances ``g ≥ 0``, floored at its ``min_conductance``."""
        return self.circuit.param_bounds

    def describe_param_index(self, name, index):
        return self.circuit.describe_param_index(name, index)

    @property
    def n_features(self):
        return self.circuit.n_features

    @property
    def n_outputs(self):
        return self.circuit.n_outputs

    @property
    def output_index(self):
        return self.circuit.output_index

    # -- the netlist ----------------------------------------------------------------------------
    def check_nudge(self, nudge):
        """Refuse complex β (a DC operating point is real) and costs with no SPICE form."""
        if isinstance(nudge, Nudge):
            if nudge.is_complex:
                raise ValueError(
                    f"complex beta={nudge.beta!r} given to SpiceNetwork: ngspice's DC operating "
                    "point is real, so a complex nudge cannot be simulated; use a real beta "
                    "(EP) instead of HolomorphicEP")
            if type(nudge.cost) not in (SquaredError, CrossEntropy):
                raise ValueError(
                    f"SpiceNetwork cannot write the nudge of the cost {nudge.cost!r} into a "
                    "netlist: its force has no SPICE expression here; supported costs are "
                    "SquaredError and CrossEntropy")
        super().check_nudge(nudge)

    def _element_lines(self, names, suffix):
        """Diode lines of one sample (element names suffixed); ``.model``/``.options`` apart."""
        c = self.circuit
        if getattr(c, "diode_law", None) == "shockley" and self.shockley_element == "B":
            nvt, i_s = float(c.ideality * c.thermal_voltage), float(c.saturation_current)
            r_s = float(getattr(c, "series_resistance", 0.0) or 0.0)
            body = []
            for k, (a, d) in enumerate(c.diode_pairs):
                junction = names[a]
                if r_s > 0:      # the series resistance between the anode and the junction
                    junction = f"dj{k}{suffix}"
                    body.append(f"RS{k}{suffix} {names[a]} {junction} {r_s!r}")
                body.append(f"BD{k}{suffix} {junction} {names[d]} "
                            f"I={i_s!r}*(exp(V({junction},{names[d]})/{nvt!r})-1)")
            return [], body
        head, body = [], []
        for line in c._spice_elements(names):
            if line.startswith("."):
                head.append(line)
            else:
                name, _, rest = line.partition(" ")
                body.append(f"{name}{suffix} {rest}")
        return head, body

    def _nudge_lines(self, out_names, nudge, y, suffix):
        beta = float(np.real(nudge.beta))
        cost = nudge.cost
        lines = []
        if isinstance(cost, SquaredError):
            for k, (node, target) in enumerate(zip(out_names, y)):
                lines.append(f"BN{k}{suffix} {node} 0 I={beta!r}*(V({node})-({float(target)!r}))")
            return lines
        t = float(cost.temperature)
        total = float(np.sum(y))
        for k, node in enumerate(out_names):
            terms = "+".join(f"exp((V({other})-V({node}))/{t!r})"
                             for j, other in enumerate(out_names) if j != k)
            p = f"1/(1+{terms})" if terms else "1"
            lines.append(f"BN{k}{suffix} {node} 0 "
                         f"I={beta / t!r}*(({p})*{total!r}-({float(y[k])!r}))")
        return lines

    def netlist(self, x, nudge=None):
        """One ngspice netlist for a whole batch (checked ``x``): disjoint copies per sample.

        Parameters
        ----------
        x : array_like, shape (batch, n_features)
        nudge : Nudge, Clamp or None
            A soft nudge adds a behavioural current source ``β ∂C/∂V`` at every output; a
            clamp holds every output with a voltage source.

        Returns
        -------
        str
            Sample ``b``'s node ``n<i>`` is ``n<i>_b<b>``; the ground ``0`` is shared. The
            ``.control`` block writes every node voltage to the ASCII raw file ``op.raw``.
        """
        c = self.circuit
        x = c.check_inputs(x)
        self.check_nudge(nudge)
        batch = x.shape[0]
        targets = None
        if isinstance(nudge, Clamp):
            targets = c.check_targets(nudge.values, batch)
        elif isinstance(nudge, Nudge):
            targets = c.check_targets(nudge.target, batch)
        base = c.spice_node_names()
        g = c._params["conductance"]
        v_src = c.source_voltages(x)
        kind = "free" if nudge is None else type(nudge).__name__.lower()
        lines = [f"* {type(c).__name__} (physlearn SpiceNetwork), {batch} samples, {kind}"]
        heads = []
        for b in range(batch):
            sfx = f"_b{b}"
            names = {n: v if v == "0" else v + sfx for n, v in base.items()}
            for k, ((a, d), gk) in enumerate(zip(c.edges, g)):
                lines.append(f"R{k}{sfx} {names[a]} {names[d]} {float(1.0 / gk)!r}")
            for j, (i, volts) in enumerate(zip(c._source, v_src[b])):
                node = c.nodes[i]
                if node != c.ground:
                    lines.append(f"V{j}{sfx} {names[node]} 0 DC {float(volts)!r}")
            head, body = self._element_lines(names, sfx)
            heads += [h for h in head if h not in heads]
            lines += body
            out_names = [names[n] for n in c.output_nodes]
            if isinstance(nudge, Clamp):
                lines += [f"VC{k}{sfx} {node} 0 DC {float(v)!r}"
                          for k, (node, v) in enumerate(zip(out_names, targets[b]))]
            elif isinstance(nudge, Nudge):
                lines += self._nudge_lines(out_names, nudge, targets[b], sfx)
        lines += heads
        lines += [SPICE_OPTIONS, ".op", ".control", "set filetype=ascii", "run",
                  f"write {SPICE_RAW_FILE}", ".endc", ".end"]
        return "\n".join(lines) + "\n"

    # -- the three questions ------------------------------------------------------------------
    def equilibrium(self, x, nudge=None, start=None):
        """ngspice's DC operating point of the (nudged or clamped) circuit, for a batch.

        Parameters
        ----------
        x : array_like, shape (batch, n_features)
        nudge : Nudge, Clamp or None
            ``Nudge``: current sources ``β ∂C/∂V`` at the outputs (real β; squared error or
            cross-entropy). ``Clamp``: voltage sources at the outputs.
        start : State, optional
            Accepted for the seam and ignored: ngspice finds its own starting point.

        Returns
        -------
        ResistorState
            The circuit's state at ngspice's node voltages (every node, sources included).

        Raises
        ------
        RuntimeError
            If ngspice is missing or fails (the message quotes ngspice).
        ConvergenceError
            If a negative nudge leaves the circuit without a stable operating point.
        """
        c = self.circuit
        x = c.check_inputs(x)
        text = self.netlist(x, nudge)
        beta = float(np.real(nudge.beta)) if isinstance(nudge, Nudge) else 0.0
        t0 = time.perf_counter()
        try:
            op = operating_point(text, executable=self.executable, timeout=self.timeout)
        except RuntimeError as err:
            if beta < 0:
                raise ConvergenceError(
                    f"the nudged circuit (beta={beta:g}) has no operating point ngspice can "
                    f"find: a negative nudge is a negative conductance at the outputs and can "
                    f"leave E + beta*C without a minimum; reduce |beta| ({err})") from err
            raise
        self.last_run_seconds = time.perf_counter() - t0
        base = c.spice_node_names()
        batch = x.shape[0]
        v = np.empty((batch, len(c.nodes)))
        for b in range(batch):
            for i, node in enumerate(c.nodes):
                name = base[node] if base[node] == "0" else f"{base[node]}_b{b}"
                if name not in op:
                    raise RuntimeError(f"ngspice wrote no voltage for node {name!r} "
                                       f"(circuit node {node!r}) of sample {b}")
                v[b, i] = op[name]
        s = v[:, c._free]
        if isinstance(nudge, Nudge):
            nudge = Nudge(nudge.cost, c.check_targets(nudge.target, batch), beta)
        state = c._state(s, x, nudge, v[:, c._source])
        if isinstance(nudge, Nudge):
            self._check_stable(state, nudge)
        return state

    def _check_stable(self, state, nudge):
        """Refuse a saddle: the nudged Hessian must be positive definite at ngspice's point."""
        c = self.circuit
        what = "SpiceNetwork: the nudged circuit has no stable operating point"
        law = getattr(c, "diode_law", None)
        if law is not None and law not in ("smooth", "shockley"):
            return        # a non-smooth law has no Hessian to certify the minimum with
        if law is not None:
            H = c.hessian(state, nudge).tocsr()
            n = state.s.shape[1]
            bad = []
            for b in range(state.s.shape[0]):
                block = H[b * n:(b + 1) * n, b * n:(b + 1) * n].toarray()
                try:
                    np.linalg.cholesky(0.5 * (block + block.T))
                except np.linalg.LinAlgError:
                    bad.append(b)
            if bad:
                raise ConvergenceError(
                    f"{what}: beta={nudge.beta:g} makes the Hessian of E + beta*C indefinite "
                    f"at ngspice's point for samples {bad[:5]}, so ngspice returned a saddle, "
                    "not an equilibrium; reduce |beta|")
            return
        outputs = c.outputs(state)
        lo, hi = c.stability_interval(nudge.cost, outputs, nudge.target)
        check_nudge_stability(nudge.beta, lo, hi, what)

    def outputs(self, state):
        """Output node voltages (V) at ``state``, shape (batch, n_outputs)."""
        return self.circuit.outputs(state)

    def param_gradient(self, state):
        """``∂E/∂g_e = ½ ΔV_e²`` (V²) from the branch voltages ngspice wrote back."""
        return self.circuit.param_gradient(state)

    # -- the model at ngspice's voltages --------------------------------------------------------
    def with_s(self, state, s):
        return self.circuit.with_s(state, s)

    def energy(self, state):
        """The model's co-content (W) at the state's voltages."""
        return self.circuit.energy(state)

    def energy_gradient(self, state):
        """The model's net current out of every free node (A): KCL's left-hand side."""
        return self.circuit.energy_gradient(state)

    def output_vjp(self, state, g_out):
        return self.circuit.output_vjp(state, g_out)

    def adjoint(self, state, rhs):
        return self.circuit.adjoint(state, rhs)

    def mixed_vjp(self, state, lam):
        return self.circuit.mixed_vjp(state, lam)

    # -- builders -----------------------------------------------------------------------------
    @classmethod
    def layered(cls, layers, *, seed=0, diode_law="shockley", diodes="alternating", bias=1.0,
                executable="ngspice", shockley_element="B", timeout=120.0, **circuit_kwargs):
        """A layered diode circuit (``NonlinearResistorNetwork.layered``) simulated by ngspice.

        Parameters
        ----------
        layers : list of int
            ``[n_in, *hidden, n_out]``; inputs drive node pairs at ``±x`` volts.
        seed : int, default 0
            Seed of the initial conductances.
        diode_law : {"shockley", "smooth"} or None, default "shockley"
            The diodes' law (``None``: a linear ``ResistorNetwork``, no diodes).
        diodes : str or list, default "alternating"
            Where the diodes sit (see ``NonlinearResistorNetwork``).
        bias : float, default 1.0
            Volts of the bias node.
        executable : str, default "ngspice"
            The ngspice program.
        shockley_element : {"B", "D"}, default "B"
            Shockley diodes as behavioural sources or SPICE junction diodes.
        timeout : float, default 120.0
            Seconds one ngspice run may take.
        **circuit_kwargs
            Further keyword arguments of the circuit's ``layered`` builder.

        Returns
        -------
        SpiceNetwork
        """
        if diode_law is None:
            circuit = ResistorNetwork.layered(layers, seed=seed, bias=bias, **circuit_kwargs)
        else:
            from .diode import NonlinearResistorNetwork

            circuit = NonlinearResistorNetwork.layered(layers, seed=seed, bias=bias,
                                                       diode_law=diode_law, diodes=diodes,
                                                       **circuit_kwargs)
        return cls(circuit, executable=executable, shockley_element=shockley_element,
                   timeout=timeout)
