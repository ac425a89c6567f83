import Foundation

/// Which species of a model each LAMMPS atom type is: from the masses of the types, or given.
public struct LammpsTypeMap: Sendable, Equatable {
    /// `species[t - 1]`: the model's species index of atom type t (LAMMPS types start at 1).
    public var species: [Int32]

    public init(species: [Int32]) { self.species = species }

    /// Two masses closer than this (u) are the same element (the masses of an element in
    /// LAMMPS inputs and in mld's table differ by rounding, H 1.008 against 1.00794).
    public static let massTolerance = 0.05

    /// Maps every type to the model species whose element mass is within `massTolerance` u of
    /// the type's mass (u).
    /// - Parameter masses: `masses[t - 1]` is the mass of type t in u (g/mol).
    /// - Throws: `MLDError.usage` naming the first type that maps to no species.
    public init(masses: [Double], model: [Element]) throws {
        var map: [Int32] = []
        for (t, m) in masses.enumerated() {
            guard let s = model.firstIndex(where: { abs($0.mass - m) <= LammpsTypeMap.massTolerance }) else {
                let known = model.map { "\($0.symbol) \($0.mass)" }.joined(separator: ", ")
                throw MLDError.usage("atom type \(t + 1) has mass \(m) u, the mass of no species of the model (\(known)); map the types with --types")
            }
            map.append(Int32(s))
        }
        species = map
    }

    /// Maps types from a list of element symbols, type 1 first ("O,H": type 1 is O, type 2 is H).
    /// - Throws: `MLDError.usage` when the list is not one species of the model per type.
    public init(symbols: String, types: Int, model: [Element]) throws {
        let names = symbols.split(separator: ",", omittingEmptySubsequences: false).map {
            String($0).trimmingCharacters(in: .whitespaces)
        }
        guard names.count == types else {
            throw MLDError.usage("--types \(symbols) names \(names.count) type\(names.count == 1 ? "" : "s"), the LAMMPS system has \(types)")
        }
        var map: [Int32] = []
        for (t, name) in names.enumerated() {
            guard let s = model.firstIndex(where: { $0.symbol == name }) else {
                throw MLDError.usage("--types: type \(t + 1) is \(name), not a species of the model (\(model.map(\.symbol).joined(separator: ",")))")
            }
            map.append(Int32(s))
        }
        species = map
    }
}
