/// A chemical element: its symbol and its mass.
public struct Element: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Chemical symbol, capitalised as in the periodic table ("O", "H").
    public let symbol: String
    /// Atomic mass in u, as CP2K uses it by default.
    public let mass: Double

    public var description: String { symbol }

    /// Masses in u for the elements mld knows (CP2K's default table).
    public static let table: [String: Double] = [
        "H": 1.00794, "D": 2.01410, "He": 4.002602, "Li": 6.941, "C": 12.0107,
        "N": 14.0067, "O": 15.9994, "F": 18.9984032, "Na": 22.98977, "Mg": 24.305,
        "P": 30.973761, "S": 32.065, "Cl": 35.453, "Ar": 39.948, "K": 39.0983, "Ca": 40.078,
    ]

    public static let hydrogen = Element(symbol: "H", mass: 1.00794)
    public static let oxygen = Element(symbol: "O", mass: 15.9994)

    public init(symbol: String, mass: Double) {
        self.symbol = symbol
        self.mass = mass
    }

    /// The element with this symbol, or nil if mld does not know it.
    public init?(symbol: String) {
        guard let m = Element.table[symbol] else { return nil }
        self.init(symbol: symbol, mass: m)
    }
}
