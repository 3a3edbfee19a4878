import DataverketCore
import Nett
// Allowed by the table, but not declared in Package.swift.
@preconcurrency import DataverketStore

struct Machine {}
