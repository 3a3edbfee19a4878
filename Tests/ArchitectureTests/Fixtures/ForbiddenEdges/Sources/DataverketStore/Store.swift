import DataverketCore

public struct Database {}
