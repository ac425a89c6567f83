/// Atoms in a periodic box: what a simulation starts from and what a trajectory frame holds.
public struct Configuration: Sendable {
    /// The distinct elements, in order of first appearance; `species[i]` indexes it.
    public var elements: [Element]
    /// Species index of every atom (into `elements`).
    public var species: [Int]
    /// Positions in Å (not necessarily wrapped into the box).
    public var positions: [SIMD3<Double>]
    /// Velocities in Å/fs, if known.
    public var velocities: [SIMD3<Double>]?
    /// Forces in eV/Å, if known.
    public var forces: [SIMD3<Double>]?
    /// The periodic box.
    public var box: Box
    /// MD step number, if the source said so.
    public var step: Int?
    /// Simulated time in fs, if the source said so.
    public var time: Double?

    public init(elements: [Element], species: [Int], positions: [SIMD3<Double>],
                velocities: [SIMD3<Double>]? = nil, forces: [SIMD3<Double>]? = nil,
                box: Box, step: Int? = nil, time: Double? = nil) {
        self.elements = elements
        self.species = species
        self.positions = positions
        self.velocities = velocities
        self.forces = forces
        self.box = box
        self.step = step
        self.time = time
    }

    /// Builds species indices from one element per atom, elements in order of first appearance.
    public init(atoms: [Element], positions: [SIMD3<Double>], velocities: [SIMD3<Double>]? = nil,
                forces: [SIMD3<Double>]? = nil, box: Box, step: Int? = nil, time: Double? = nil) {
        var elements: [Element] = []
        var species: [Int] = []
        species.reserveCapacity(atoms.count)
        for a in atoms {
            if let i = elements.firstIndex(of: a) { species.append(i) } else {
                elements.append(a); species.append(elements.count - 1)
            }
        }
        self.init(elements: elements, species: species, positions: positions,
                  velocities: velocities, forces: forces, box: box, step: step, time: time)
    }

    public var count: Int { positions.count }
    /// The most atoms mld builds or reads into one configuration (200 million water molecules,
    /// `mld box --molecules`' limit); bigger requests are refused before anything is allocated.
    public static let maximumAtoms = 600_000_000
    /// The element of every atom.
    public var atomElements: [Element] { species.map { elements[$0] } }
    /// Mass of every atom, in u.
    public var masses: [Double] { species.map { elements[$0].mass } }
    /// Number of atoms of each species, in the order of `elements`.
    public var speciesCounts: [Int] {
        var c = [Int](repeating: 0, count: elements.count)
        for s in species { c[s] += 1 }
        return c
    }

    /// The same atoms numbered anew: atom k of the result is atom `order[k]` of this one
    /// (`order` a permutation of 0..<count), with its position, velocity, force and species.
    public func permuted(_ order: [Int]) -> Configuration {
        precondition(order.count == count, "a permutation of every atom")
        var c = self
        c.species = order.map { species[$0] }
        c.positions = order.map { positions[$0] }
        c.velocities = velocities.map { v in order.map { v[$0] } }
        c.forces = forces.map { f in order.map { f[$0] } }
        return c
    }
}
