/// A compute backend: the one place forces are computed.
///
/// A backend is built for one model, one set of atoms (species fixed) and one box. Its single
/// job is to return, for given positions, the force on every agent, `F_k = -dH_A(phi_k)/dq_k`
/// in eV/Å (only the agent's own coordinates are differentiated), and optionally every agent's
/// loss `H_A(phi_k)` in eV. The integrator, the thermostat and the analysis know nothing else
/// about it. The CPU backend is the reference every other backend is tested against.
public protocol ForceBackend: AnyObject {
    /// Short name: "cpu", "opencl".
    var name: String { get }
    /// The device it runs on, in words ("2 threads", "NVIDIA H100 80GB HBM3").
    var deviceName: String { get }
    /// How often the neighbour list has been rebuilt so far.
    var neighbourListBuilds: Int { get }
    /// Wall seconds spent rebuilding the neighbour list so far, where the backend measures it.
    var rebuildSeconds: Double? { get }
    /// Computes forces in eV/Å into `forces` (resized to the atom count); if `losses` is not
    /// nil it is filled with every agent's loss in eV.
    func computeForces(positions: [SIMD3<Double>], forces: inout [SIMD3<Double>],
                       losses: inout [Double]?) throws
}

extension ForceBackend {
    public var rebuildSeconds: Double? { nil }
}
