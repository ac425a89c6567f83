import Dispatch
import Foundation

/// The reference backend: pure Swift, double precision, parallel over blocks of agents.
///
/// Each call wraps the positions into the box, rebuilds the Verlet neighbour list when some atom
/// moved more than half the skin (or an adaptive potential asked for a longer list), and runs the
/// potential's per-agent evaluation over the agents in `threads * 4` blocks with
/// `DispatchQueue.concurrentPerform`. Every agent's result depends only on the positions and the
/// neighbour set, never on the blocking, so results are identical for any thread count.
public final class CPUBackend: ForceBackend {
    public let name = "cpu"
    public var deviceName: String { "\(threads) thread\(threads == 1 ? "" : "s") (Swift, double precision)" }
    public var neighbourListBuilds: Int { list.builds }

    /// The per-agent evaluation.
    public let potential: any AgentPotential
    /// The periodic box.
    public let box: Box
    /// Species index of every atom.
    public let species: [Int32]
    /// Worker threads.
    public let threads: Int
    /// The neighbour list (read access for tests and diagnostics).
    public private(set) var list: NeighbourList

    private var wrapped: [SIMD3<Double>] = []
    private var scratch: UnsafeMutableRawPointer
    private let scratchStride: Int
    private let blocks: Int

    /// - Parameters:
    ///   - potential: the per-agent loss.
    ///   - species: species index of every atom (model order).
    ///   - box: the periodic box; the potential's range must not exceed half its shortest edge.
    ///   - skin: neighbour-list padding in Å (default 0.8).
    ///   - threads: worker threads (default: every core).
    public init(potential: any AgentPotential, species: [Int], box: Box, skin: Double = 0.8,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        guard potential.interactionRange <= box.shortestEdge / 2 + 1e-12 else {
            throw MLDError.backend("the model's range \(potential.interactionRange) Å exceeds half the shortest box edge (\(box.shortestEdge / 2) Å)")
        }
        if let bad = species.first(where: { $0 < 0 || $0 >= potential.speciesCount }) {
            throw MLDError.backend("species index \(bad) is not in the model (\(potential.speciesCount) species)")
        }
        self.potential = potential
        self.box = box
        self.species = species.map(Int32.init)
        self.threads = max(1, threads)
        var counts = [Int](repeating: 0, count: potential.speciesCount)
        for s in species { counts[s] += 1 }
        let radius = potential.isAdaptive ? potential.initialRadius(counts: counts, box: box)
                                          : potential.interactionRange
        list = NeighbourList(radius: radius, skin: skin, threads: self.threads)
        blocks = species.count < 512 ? min(self.threads, max(1, species.count / 64)) : self.threads * 4
        scratchStride = (max(potential.scratchCount, 1) * 8 + 63) / 64 * 64
        scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchStride * blocks, alignment: 64)
    }

    deinit { scratch.deallocate() }

    public func computeForces(positions: [SIMD3<Double>], forces: inout [SIMD3<Double>],
                              losses: inout [Double]?) throws {
        let n = positions.count
        guard n == species.count else {
            throw MLDError.backend("\(n) positions for a backend built for \(species.count) atoms")
        }
        if forces.count != n { forces = [SIMD3<Double>](repeating: .zero, count: n) }
        if losses != nil && losses!.count != n { losses = [Double](repeating: 0, count: n) }
        if wrapped.count != n { wrapped = [SIMD3<Double>](repeating: .zero, count: n) }
        for i in 0..<n { wrapped[i] = box.wrap(positions[i]) }
        if list.needsRebuild(positions) { list.build(positions, box: box) }

        while true {
            let needed = try evaluate(forces: &forces, losses: &losses)
            if needed == 0 { return }
            // The list was too short to find every nearest neighbour: grow it and start over.
            let r = min(potential.interactionRange, max(needed * 1.05, list.radius * 1.1))
            list.setRadius(r)
            list.build(positions, box: box)
        }
    }

    /// Runs every agent; returns 0, or the largest neighbour-list radius an agent asked for.
    private func evaluate(forces: inout [SIMD3<Double>], losses: inout [Double]?) throws -> Double {
        let n = species.count
        let blocks = self.blocks
        let per = (n + blocks - 1) / blocks
        var needed = [Double](repeating: 0, count: blocks)
        var failure = [Error?](repeating: nil, count: blocks)
        let wantLoss = losses != nil
        var lossBuffer = losses ?? []
        let L = box.lengths
        let radius = list.radius
        let potential = self.potential
        let scratch = self.scratch, stride = scratchStride
        wrapped.withUnsafeBufferPointer { pos in
            species.withUnsafeBufferPointer { spc in
                list.offsets.withUnsafeBufferPointer { off in
                    list.indices.withUnsafeBufferPointer { idx in
                        forces.withUnsafeMutableBufferPointer { frc in
                            lossBuffer.withUnsafeMutableBufferPointer { lss in
                                needed.withUnsafeMutableBufferPointer { need in
                                    failure.withUnsafeMutableBufferPointer { fail in
                                        DispatchQueue.concurrentPerform(iterations: blocks) { b in
                                            let work = (scratch + b * stride).assumingMemoryBound(to: Double.self)
                                            var hood = AgentNeighbourhood(
                                                agent: 0, neighbours: UnsafeBufferPointer(start: nil, count: 0),
                                                positions: pos.baseAddress!, species: spc.baseAddress!,
                                                lengths: L, halfLengths: 0.5 * L, radius: radius)
                                            var most = 0.0
                                            do {
                                                for k in (b * per)..<min(n, (b + 1) * per) {
                                                    hood.agent = k
                                                    hood.neighbours = UnsafeBufferPointer(
                                                        rebasing: idx[off[k]..<off[k + 1]])
                                                    let r = try potential.evaluate(hood, scratch: work)
                                                    frc[k] = r.force
                                                    if wantLoss { lss[k] = r.loss }
                                                    most = max(most, r.neededRadius)
                                                }
                                            } catch {
                                                fail[b] = error
                                            }
                                            need[b] = most
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if let e = failure.first(where: { $0 != nil }) { throw e! }
        if wantLoss { losses = lossBuffer }
        return needed.max() ?? 0
    }
}
