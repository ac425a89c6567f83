import Foundation
import MLD
import Testing
@testable import MLDOpenCL

/// What a GPU driver does differently from PoCL, shown on PoCL by forcing it: a small constant
/// memory, memory that is not zeroed, allocation limits, lists past 2^31 slots, the calls and
/// launches per step, and float per-neighbour functions.
@Suite(.enabled(if: openCLAvailable, "needs an OpenCL device (SKIPPED otherwise, see OpenCLAvailabilityTests)"))
struct DeviceLimitsTests {
    static let model = OpenCLReferenceTests.nearestModel(inverse: false, seed: 41)

    static func water(_ atoms: Int) -> (box: Box, species: [Int], positions: [SIMD3<Double>]) {
        let box = Box(cubic: pow(Double(atoms) / 0.1, 1.0 / 3.0))
        let (species, positions) = TestSystems.water(atoms, box: box, seed: UInt64(atoms))
        return (box, species, positions)
    }

    static func forces(_ b: OpenCLBackend, _ positions: [SIMD3<Double>]) throws -> [SIMD3<Double>] {
        var f: [SIMD3<Double>] = []
        var l: [Double]? = nil
        try b.computeForces(positions: positions, forces: &f, losses: &l)
        return f
    }

    /// w and W larger than the device's constant memory go to __global (MLD_W_GLOBAL), with the
    /// same forces.
    @Test(arguments: testPrecisions)
    func lossParametersBeyondConstantMemoryUseGlobal(precision: OpenCLPrecision) throws {
        let (box, species, positions) = Self.water(1000)
        let constant = try OpenCLBackend(model: Self.model, species: species, box: box, device: nil, precision: precision,
                                         skin: 1.0, accumulateInDouble: nil)
        let small = try OpenCLBackend(model: Self.model, species: species, box: box, device: nil, precision: precision,
                                      skin: 1.0, accumulateInDouble: nil, constantLimit: 1024)
        #expect(constant.lossParametersInConstantMemory)
        #expect(!small.lossParametersInConstantMemory)
        let a = try Self.forces(constant, positions), b = try Self.forces(small, positions)
        let err = relativeError(b, a)
        print("constant vs global W [\(precision)]: max relative force difference \(err)")
        #expect(err <= 1e-15)
    }

    /// The reference positions start at zero; a reference that is not a number (memory a
    /// driver did not clear) forces a rebuild instead of blocking every later one.
    @Test(arguments: testPrecisions)
    func referenceIsZeroedAndNaNForcesARebuild(precision: OpenCLPrecision) throws {
        var rng = SplitMix64(seed: 16)
        let box = Box(cubic: 20.0)
        let positions = randomPositions(800, box: box, rng: &rng)
        let (_, nl, pos) = try NeighbourListTests.make(positions.count, box: box, cutoff: 4.0, skin: 1.0, precision: precision)
        var ref = [SIMD4<Double>](repeating: SIMD4(repeating: 1), count: positions.count)
        try nl.ref.read(into: &ref)
        #expect(ref.allSatisfy { $0 == .zero })
        try nl.ref.write([SIMD4<Double>](repeating: SIMD4(repeating: .nan), count: positions.count))
        let st = try NeighbourListTests.update(nl, pos, positions, force: false)
        #expect(st[DeviceStatus.rebuilt] == 1)
        NeighbourListTests.check(try nl.lists(), positions, box: box, rlist: 5.0, label: "NaN reference \(precision)")
    }

    /// A buffer over the largest allocation, or over the memory left, is refused in one line
    /// naming the limit, before anything is enqueued.
    @Test func allocationLimitsAreRefusedInOneLine() throws {
        let (box, species, _) = Self.water(1000)
        let fits = try OpenCLBackend(model: Self.model, species: species, box: box, device: nil, precision: .single,
                                     skin: 1.0, accumulateInDouble: nil)
        for (limit, name) in [(20_000, "CL_DEVICE_MAX_MEM_ALLOC_SIZE"), (fits.deviceBytes * 3 / 4, "CL_DEVICE_GLOBAL_MEM_SIZE")] {
            do {
                _ = try OpenCLBackend(model: Self.model, species: species, box: box, device: nil, precision: .single,
                                      skin: 1.0, accumulateInDouble: nil, memoryLimit: limit, allocationLimit: limit == 20_000 ? limit : nil)
                Issue.record("a limit of \(limit) bytes was not refused")
            } catch {
                let text = "\(error)"
                print("refused: \(text)")
                #expect(text.contains(name), "\(text)")
                #expect(!text.contains("\n"))
            }
        }
    }

    /// Growing the lists frees the old ones first: room for the new lists alone is enough.
    @Test func growingFreesTheOldListsFirst() throws {
        var rng = SplitMix64(seed: 17)
        let box = Box(cubic: 18.0)
        let positions = randomPositions(1000, box: box, rng: &rng)
        let (ctx, nl, pos) = try NeighbourListTests.make(positions.count, box: box, cutoff: 4.0, skin: 1.0,
                                                         precision: .single, capacity: 4)
        let old = nl.nbr.bytes, new = 160 * positions.count * 4
        ctx.memoryLimit = ctx.allocatedBytes - old + new
        try nl.grow(to: 160)
        #expect(nl.capacity == 160)
        #expect(ctx.allocatedBytes <= ctx.memoryLimit)
        _ = try NeighbourListTests.update(nl, pos, positions, force: true, grow: false)
        NeighbourListTests.check(try nl.lists(), positions, box: box, rlist: 5.0, label: "grown in place")
    }

    /// Slots are 64-bit: capacity x N past 2^31 is no longer refused (10^7 atoms of 300
    /// neighbours); only atom indices themselves stay 32-bit.
    @Test func slotsPast32BitsAreAccepted() throws {
        #expect(throws: Never.self) { try DeviceNeighbourList.checkIndexRange(capacity: 300, atoms: 10_000_000) }
        #expect(throws: MLDError.self) { try DeviceNeighbourList.checkIndexRange(capacity: 8, atoms: Int(Int32.max)) }
    }

    /// A step without a rebuild makes one blocking call and launches only the force kernels;
    /// a step with one adds the six build kernels and nothing else.
    @Test(arguments: testPrecisions)
    func oneBlockingCallAndNoEmptyLaunchesPerStep(precision: OpenCLPrecision) throws {
        let (box, species, positions) = Self.water(1000)
        let b = try OpenCLBackend(model: Self.model, species: species, box: box, precision: precision)
        let first = try Self.forces(b, positions)   // builds (and lengthens) the lists
        let builds = b.neighbourListBuilds
        var moved = positions
        for i in moved.indices { moved[i].x += 0.01 }
        let second = try Self.forces(b, moved)
        #expect(b.neighbourListBuilds == builds)
        #expect(b.lastLaunches == 2)
        #expect(b.lastBlockingCalls == 1)
        // A uniform shift changes no distance: the same forces from the same (unrebuilt) lists.
        #expect(relativeError(second, first) < 1e-9)
        for i in moved.indices { moved[i].x += 0.6 }
        _ = try Self.forces(b, moved)
        #expect(b.neighbourListBuilds == builds + 1)
        #expect(b.lastLaunches == 2 + 6)
        #expect(b.lastBlockingCalls == 1)
    }

    /// Per-neighbour functions in float (MLD_FN_FLOAT, single precision on GPUs), forced on
    /// this device: radial Gaussians and inverse powers within the 5e-5 of float evaluation.
    @Test(arguments: [true, false])
    func floatFunctionsOfRadialModels(gaussian: Bool) throws {
        let model = OpenCLReferenceTests.radialModel(gaussian: gaussian, seed: 42)
        let (box, species, positions) = Self.water(1000)
        let exact = try OpenCLBackend(model: model, species: species, box: box, device: nil, precision: .double,
                                      skin: 1.0, accumulateInDouble: nil)
        let fast = try OpenCLBackend(model: model, species: species, box: box, device: nil, precision: .single,
                                     skin: 1.0, accumulateInDouble: nil, floatFunctions: true)
        #expect(fast.floatFunctions)
        let err = relativeError(try Self.forces(fast, positions), try Self.forces(exact, positions))
        print("float per-neighbour functions, radial \(gaussian ? "Gaussian" : "inverse power"): max relative force error \(err)")
        #expect(err < 5e-5)
    }
}
