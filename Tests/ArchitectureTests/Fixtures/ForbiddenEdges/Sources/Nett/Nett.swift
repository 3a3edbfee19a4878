import DataverketCore

public struct Prefix {}
