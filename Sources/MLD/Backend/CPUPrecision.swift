/// The arithmetic of the CPU backend's force evaluation.
///
/// - `double`: everything in double precision: the reference every other path is checked
///   against (the default).
/// - `mixed`: the per-neighbour terms of the moment-tensor angular sums (unit vectors, radial
///   factors exp(-eta r²) f_c(r), monomials and gradient products) in single precision, eight
///   neighbours a vector instead of four; every sum over neighbours leaves the vectors in double,
///   and positions, distances, the nearest selection, the other invariants, the loss and the
///   integration stay in double. The same split as the OpenCL backend's single precision on a
///   device with fp64. Forces agree with `double` to about 1e-6 relative; models without
///   angular sums (the paper's distance-only model) are unaffected.
public enum CPUPrecision: String, Sendable, CaseIterable, Codable {
    case double, mixed
}
