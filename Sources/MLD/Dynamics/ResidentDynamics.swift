/// Velocity Verlet's pieces run where the state lives (an accelerator's memory): positions,
/// velocities and forces stay there between steps, and `Simulation` drives every step through
/// these calls, keeping the thermostat's own variables on the host. Each call mirrors a piece
/// of `Simulation.advance()` and performs the same floating-point operations per atom; only
/// the sums over atoms are taken in another (fixed) order.
///
/// Units: positions in Å (unwrapped), velocities in Å/fs, forces in eV/Å, masses in u, times
/// in fs; `m |v|^2` sums in u Å²/fs² (times `Units.massVelocitySquared` for eV).
public protocol ResidentDynamics: AnyObject {
    /// Puts the state on the device; the next `computeForces` rebuilds the neighbour list.
    func load(positions: [SIMD3<Double>], velocities: [SIMD3<Double>], forces: [SIMD3<Double>]) throws

    /// Copies the state back to the host arrays (sized N).
    func download(positions: inout [SIMD3<Double>], velocities: inout [SIMD3<Double>],
                  forces: inout [SIMD3<Double>]) throws

    /// `v_i = v_i s_i - shift` with `s_i` = `perAtomScale[i]`, or `scale` for every atom when it
    /// is nil. Returns the momentum `sum m v` (u Å/fs) and `sum m |v|^2` afterwards; fills
    /// `perAtomKinetic` with every `m_i |v_i|^2` when it is not nil.
    func scale(_ scale: Double, perAtomScale: [Double]?, shift: SIMD3<Double>,
               perAtomKinetic: inout [Double]?) throws -> (momentum: SIMD3<Double>, twiceKinetic: Double)

    /// `v = v s - shift; v += h accel F; q += dt v` (accel = `Units.forceOverMass / m`), and the
    /// positions the force kernels read. Returns the largest single move `|dt v|` (Å) and its
    /// atom, the largest distance from the positions of the last neighbour-list build (Å), and
    /// `sum F . (q_new - q_old)` with the old forces (eV).
    func kickDrift(scale: Double, shift: SIMD3<Double>, h: Double, dt: Double) throws
        -> (largestMove: Double, atom: Int, movedSinceBuild: Double, work: Double)

    /// Forces at the current positions (kept on the device), rebuilding the neighbour list when
    /// the last `kickDrift` saw an atom past half the skin since the last build (or after
    /// `load`). Returns the net force `sum F` (eV/Å) before any removal; fills `losses` (eV per
    /// agent) when it is not nil.
    func computeForces(losses: inout [Double]?) throws -> SIMD3<Double>

    /// `F -= m a_com` (when `removeCentreOfMass`), then `v += h accel F`. Returns
    /// `sum F . (q_new - q_old)` with the new forces (eV) and `sum m |v|^2`; fills
    /// `perAtomKinetic` when it is not nil.
    func correctAndKick(comAcceleration: SIMD3<Double>, removeCentreOfMass: Bool, h: Double,
                        perAtomKinetic: inout [Double]?) throws -> (work: Double, twiceKinetic: Double)

    /// Bytes copied between host and device so far (both ways).
    var bytesMoved: Int { get }
    /// Device seconds per phase so far, where the device measures them (empty otherwise).
    var phaseSeconds: [String: Double] { get }
    /// Whether the device times every command per phase (costs an event per command).
    var profiling: Bool { get set }
}
