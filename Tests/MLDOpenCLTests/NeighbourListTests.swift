import Foundation
import MLD
import Testing
@testable import MLDOpenCL

/// Prints a loud SKIPPED line where no OpenCL device exists, so the skip is never silent; with
/// `MLD_REQUIRE_OPENCL=1` (`make test`) a missing device fails instead.
@Suite struct OpenCLAvailabilityTests {
    @Test func reportsWhetherOpenCLTestsRun() {
        let devices = OpenCLDeviceInfo.all()
        if devices.isEmpty {
            if openCLRequired {
                Issue.record("MLD_REQUIRE_OPENCL=1 but no OpenCL platform or device is found (install pocl-opencl-icd): the OpenCL backend tests cannot run")
            } else {
                print("SKIPPED: no OpenCL platform or device on this machine: every OpenCL backend test is skipped (install pocl-opencl-icd; MLD_REQUIRE_OPENCL=1 makes this a failure)")
            }
        } else {
            print("OpenCL tests run on: \(devices.map(\.name).joined(separator: ", "))")
        }
        // The decision the suites are enabled on is the device list's.
        #expect(openCLAvailable == !devices.isEmpty)
        for d in devices { #expect(!d.name.isEmpty, "an OpenCL device without a name") }
    }
}

/// The device neighbour list against a brute-force all-pairs list, on both precisions.
@Suite(.enabled(if: openCLAvailable, "needs an OpenCL device (SKIPPED otherwise, see OpenCLAvailabilityTests)"))
struct NeighbourListTests {
    /// Every pair within r_list, by brute force in double precision.
    static func bruteForce(_ positions: [SIMD3<Double>], box: Box, rlist: Double) -> [[Int]] {
        let n = positions.count
        var out = [[Int]](repeating: [], count: n)
        for k in 0..<n {
            for j in 0..<n where j != k {
                let d = box.displacement(from: positions[k], to: positions[j])
                if (d * d).sum() < rlist * rlist { out[k].append(j) }
            }
        }
        return out
    }

    /// The device lists equal the brute-force lists, except for pairs within 1e-5 Å of r_list
    /// (float rounding may put those either side).
    static func check(_ lists: [[Int]], _ positions: [SIMD3<Double>], box: Box, rlist: Double,
                      label: String) {
        for k in positions.indices {
            let got = Set(lists[k])
            for j in positions.indices where j != k {
                let d = box.displacement(from: positions[k], to: positions[j])
                let r = (d * d).sum().squareRoot()
                if abs(r - rlist) < 1e-5 { continue }
                if (r < rlist) != got.contains(j) {
                    Issue.record("\(label): atom \(k), neighbour \(j) at r = \(r) Å (r_list \(rlist)): device has it \(got.contains(j))")
                    return
                }
            }
        }
    }

    static func make(_ n: Int, box: Box, cutoff: Double, skin: Double, precision: OpenCLPrecision,
                     capacity: Int? = nil, agentMajor: Bool? = nil) throws -> (CLContext, DeviceNeighbourList, CLBuffer<SIMD4<Double>>) {
        let ctx = try CLContext(device: try CLDevice.select(index: nil))
        let program = try ctx.mldProgram(precision: precision, defines: [], agentMajor: agentMajor)
        let nl = try DeviceNeighbourList(ctx: ctx, program: program, precision: precision, count: n,
                                         box: box, cutoff: cutoff, skin: skin, capacity: capacity)
        let pos = try ctx.buffer(SIMD4<Double>.self, count: n)
        return (ctx, nl, pos)
    }

    static func update(_ nl: DeviceNeighbourList, _ pos: CLBuffer<SIMD4<Double>>,
                       _ positions: [SIMD3<Double>], force: Bool, grow: Bool = true) throws -> [Int32] {
        var stager = PositionStager(precision: nl.precision, box: nl.box)
        stager.stage(positions)
        try stager.upload(to: pos)
        try nl.resetStatus(forceRebuild: force)
        try nl.enqueueUpdate(positions: pos)
        let st = try nl.readStatus()
        // As the backend does: an overflow grows the lists and rebuilds.
        if grow && Int(st[DeviceStatus.maxCount]) > nl.capacity {
            try nl.grow(to: Int(st[DeviceStatus.maxCount]))
            return try update(nl, pos, positions, force: true, grow: false)
        }
        return st
    }

    /// Both layouts of the lists (agent-major, as on CPU devices, and slot-major, as on GPUs).
    @Test(arguments: testPrecisions, [false, true])
    func randomSystemMatchesAllPairs(precision: OpenCLPrecision, agentMajor: Bool) throws {
        var rng = SplitMix64(seed: 11)
        let box = Box(21.0, 23.5, 19.7)
        let positions = randomPositions(1500, box: box, rng: &rng)
        let (_, nl, pos) = try Self.make(positions.count, box: box, cutoff: 4.0, skin: 1.0, precision: precision,
                                         agentMajor: agentMajor)
        #expect(nl.agentMajor == agentMajor)
        #expect(nl.cells.x == 4 && nl.cells.y == 4 && nl.cells.z == 3)
        let st = try Self.update(nl, pos, positions, force: true)
        #expect(st[DeviceStatus.rebuilt] == 1)
        #expect(Int(st[DeviceStatus.maxCount]) <= nl.capacity)
        Self.check(try nl.lists(), positions, box: box, rlist: 5.0, label: "random \(precision)")
    }

    @Test(arguments: testPrecisions)
    func smallBoxesFewerThanThreeCells(precision: OpenCLPrecision) throws {
        var rng = SplitMix64(seed: 12)
        for (edges, rl) in [(SIMD3(9.0, 9.5, 12.4), 4.2), (SIMD3(12.4, 12.4, 12.4), 6.2), (SIMD3(5.0, 30.0, 7.0), 2.4)] {
            let box = Box(edges)
            let positions = randomPositions(300, box: box, rng: &rng, outside: 0.3)
            let (_, nl, pos) = try Self.make(positions.count, box: box, cutoff: rl - 0.5, skin: 0.5, precision: precision)
            _ = try Self.update(nl, pos, positions, force: true)
            Self.check(try nl.lists(), positions, box: box, rlist: rl, label: "box \(edges) \(precision)")
        }
    }

    /// Atoms exactly on cell faces and box faces, outside the primary box, and most cells empty.
    @Test(arguments: testPrecisions)
    func facesOutsideAtomsAndEmptyCells(precision: OpenCLPrecision) throws {
        let box = Box(cubic: 30.0)
        // Cells of 30/6 = 5 Å for r_list 4.5: put atoms on the faces x = 0, 5, 10, ..., 30.
        var positions: [SIMD3<Double>] = []
        for i in 0...6 { for j in 0...2 {
            positions.append(SIMD3(5.0 * Double(i), 5.0 * Double(j) + 2.0, 15.0))
            positions.append(SIMD3(5.0 * Double(i) + 1.0, 10.0, 5.0 * Double(j)))
        } }
        // Outside the primary box, by whole and fractional boxes.
        positions += [SIMD3(-0.5, 14.0, 15.5), SIMD3(31.0, 16.0, 14.0), SIMD3(-60.0, 12.0, 45.0),
                      SIMD3(90.0 - 1e-12, 13.0, 15.0), SIMD3(-1e-13, 15.0, 15.0), SIMD3(0, 0, 0)]
        // A dense cluster in one corner: most of the 216 cells stay empty.
        var rng = SplitMix64(seed: 13)
        for _ in 0..<200 {
            positions.append(SIMD3(Double.random(in: 24..<33, using: &rng), Double.random(in: 24..<33, using: &rng),
                                   Double.random(in: -3..<3, using: &rng)))
        }
        let (_, nl, pos) = try Self.make(positions.count, box: box, cutoff: 4.0, skin: 0.5, precision: precision)
        #expect(nl.cellCount == 216)
        let st = try Self.update(nl, pos, positions, force: true, grow: false)
        #expect(Int(st[DeviceStatus.maxCount]) > nl.capacity, "the corner cluster overflows the estimated capacity")
        _ = try Self.update(nl, pos, positions, force: true)
        Self.check(try nl.lists(), positions, box: box, rlist: 4.5, label: "faces \(precision)")
    }

    /// A capacity far too small is reported in the status words, grown, and the rebuilt lists
    /// are complete.
    @Test(arguments: testPrecisions, [false, true])
    func overflowIsDetectedAndRecovered(precision: OpenCLPrecision, agentMajor: Bool) throws {
        var rng = SplitMix64(seed: 14)
        let box = Box(cubic: 18.0)
        let positions = randomPositions(1000, box: box, rng: &rng)
        let (_, nl, pos) = try Self.make(positions.count, box: box, cutoff: 4.0, skin: 1.0, precision: precision,
                                         capacity: 4, agentMajor: agentMajor)
        #expect(nl.capacity == 4)
        var st = try Self.update(nl, pos, positions, force: true, grow: false)
        let needed = Int(st[DeviceStatus.maxCount])
        #expect(needed > 4)
        let brute = Self.bruteForce(positions, box: box, rlist: 5.0)
        #expect(abs(needed - brute.map(\.count).max()!) <= 1)
        try nl.grow(to: needed)
        st = try Self.update(nl, pos, positions, force: true, grow: false)
        #expect(Int(st[DeviceStatus.maxCount]) <= nl.capacity)
        Self.check(try nl.lists(), positions, box: box, rlist: 5.0, label: "overflow \(precision)")
        let counts = try nl.counts(), lists = try nl.lists()
        #expect(counts == lists.map(\.count))
    }

    /// The list is rebuilt on the device only when an atom moved more than half the skin, and
    /// after many moves it still holds every pair within the cutoff.
    @Test(arguments: testPrecisions)
    func rebuildsOnlyPastHalfTheSkin(precision: OpenCLPrecision) throws {
        var rng = SplitMix64(seed: 15)
        let box = Box(cubic: 20.0)
        var positions = randomPositions(800, box: box, rng: &rng)
        let (_, nl, pos) = try Self.make(positions.count, box: box, cutoff: 4.0, skin: 1.0, precision: precision)
        _ = try Self.update(nl, pos, positions, force: true)
        // Every atom moves 0.45 Å (< 0.5 = half the skin) in total: no rebuild, lists still cover the cutoff.
        var moved = positions
        for i in moved.indices {
            let dir = SIMD3(Double.random(in: -1...1, using: &rng), Double.random(in: -1...1, using: &rng),
                            Double.random(in: -1...1, using: &rng))
            moved[i] += 0.45 * dir / max((dir * dir).sum().squareRoot(), 1e-9)
        }
        var st = try Self.update(nl, pos, moved, force: false)
        #expect(st[DeviceStatus.rebuilt] == 0)
        let lists = try nl.lists()
        for k in moved.indices {
            let have = Set(lists[k])
            for j in moved.indices where j != k {
                let d = box.displacement(from: moved[k], to: moved[j])
                if (d * d).sum() < 16.0 && !have.contains(j) {
                    Issue.record("pair \(k)-\(j) within the cutoff missing before a rebuild was due"); return
                }
            }
        }
        // One atom across the periodic boundary by more than half the skin: rebuild.
        moved[7].x += 0.6
        st = try Self.update(nl, pos, moved, force: false)
        #expect(st[DeviceStatus.rebuilt] == 1)
        Self.check(try nl.lists(), moved, box: box, rlist: 5.0, label: "after moves \(precision)")
        positions = moved
        // Whole-box jumps are no displacement at all.
        for i in positions.indices { positions[i] += box.lengths * SIMD3(1, -2, 3) }
        st = try Self.update(nl, pos, positions, force: false)
        #expect(st[DeviceStatus.rebuilt] == 0)
    }
}
