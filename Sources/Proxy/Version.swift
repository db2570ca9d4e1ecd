/// The daemon's version, reported by `--version` and in logs.
public enum MetaclusterVersion {
    public static let current = "0.1.0"
}
