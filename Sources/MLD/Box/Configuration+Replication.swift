/// Tiling a periodic configuration into a larger periodic box.
extension Configuration {
    /// The configuration tiled `counts.x x counts.y x counts.z` times: the box edges are
    /// multiplied by the counts and every atom gets one copy per image, shifted by
    /// `(i Lx, j Ly, k Lz)` Å. Velocities (Å/fs) and forces (eV/Å) are copied unchanged.
    ///
    /// Atoms are ordered image by image (x fastest, then y, then z), each image in the original
    /// order, so `O H H O H H ...` stays `O H H ...` and atom `a` of image `m` is atom
    /// `m * count + a`. Because the original is periodic, every atom of the tiled box sees the
    /// same surroundings as in the original whenever the interaction range is under half the
    /// original box edge: per-atom forces of a short-ranged model are preserved exactly.
    public func replicated(_ counts: SIMD3<Int>) -> Configuration {
        precondition(counts.x >= 1 && counts.y >= 1 && counts.z >= 1, "replication counts must be >= 1")
        let images = counts.x * counts.y * counts.z
        let n = count
        var pos: [SIMD3<Double>] = []
        pos.reserveCapacity(n * images)
        var spec: [Int] = []
        spec.reserveCapacity(n * images)
        var vel: [SIMD3<Double>]? = velocities.map { _ in [] }
        vel?.reserveCapacity(n * images)
        var frc: [SIMD3<Double>]? = forces.map { _ in [] }
        frc?.reserveCapacity(n * images)
        let L = box.lengths
        for k in 0..<counts.z {
            for j in 0..<counts.y {
                for i in 0..<counts.x {
                    let shift = L * SIMD3(Double(i), Double(j), Double(k))
                    for a in 0..<n { pos.append(positions[a] + shift) }
                    spec.append(contentsOf: species)
                    if let v = velocities { vel!.append(contentsOf: v) }
                    if let f = forces { frc!.append(contentsOf: f) }
                }
            }
        }
        let big = Box(L * SIMD3(Double(counts.x), Double(counts.y), Double(counts.z)))
        return Configuration(elements: elements, species: spec, positions: pos, velocities: vel,
                             forces: frc, box: big, step: step, time: time)
    }
}

/// Replication counts written `4x4x4` (or a single `4` for the same count on every axis).
public struct ReplicationCounts: Hashable, Sendable, CustomStringConvertible {
    public var counts: SIMD3<Int>

    public init(_ counts: SIMD3<Int>) { self.counts = counts }

    /// Parses `AxBxC` or `A` (positive integers); nil if malformed.
    public init?(parsing text: String) {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        let v = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard v.count == parts.count, v.allSatisfy({ $0 >= 1 }) else { return nil }
        switch v.count {
        case 1: counts = SIMD3(repeating: v[0])
        case 3: counts = SIMD3(v[0], v[1], v[2])
        default: return nil
        }
    }

    /// Number of images.
    public var images: Int { counts.x * counts.y * counts.z }
    public var description: String { "\(counts.x)x\(counts.y)x\(counts.z)" }
}
