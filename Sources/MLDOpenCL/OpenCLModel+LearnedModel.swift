import MLD

extension OpenCLModel {
    /// The kernels' view of a fitted model (Sources/MLD/Loss/LearnedModel.swift).
    public init(_ model: LearnedModel) throws {
        let spec = model.invariants
        if let problem = spec.validationProblem() { throw MLDError.model(file: "model", problem: problem) }
        let invariants: Invariants
        if let near = spec.nearest {
            invariants = .nearest(counts: near.counts, inverse: near.transform == .inverse, searchRadius: near.searchRadius)
        } else if let radial = spec.radial {
            let b = radial.basis
            let basis: Basis
            switch b.kind {
            case .gaussian: basis = .gaussian(centers: b.centres!, widths: Array(repeating: b.width!, count: b.count))
            case .inversePower: basis = .inversePower(powers: b.powers!)
            }
            invariants = .radial(basis: basis, cutoff: radial.cutoff)
        } else {
            throw MLDError.model(file: "model", problem: "no distance block")
        }
        self.init(speciesNames: model.species.map(\.symbol), invariants: invariants,
                  linear: model.losses.map(\.w), quadratic: model.losses.map(\.W))
    }
}

extension OpenCLBackend {
    /// A backend for a fitted model on the atoms of `configuration` (its box and species).
    public convenience init(model: LearnedModel, configuration: Configuration, device: Int? = nil,
                            precision: OpenCLPrecision = .single, skin: Double = 1.0) throws {
        try model.check(elements: configuration.elements, box: configuration.box)
        let species = try model.speciesIndices(elements: configuration.elements, species: configuration.species)
        try self.init(model: try OpenCLModel(model), species: species.map(Int.init), box: configuration.box,
                      device: device, precision: precision, skin: skin)
    }
}
