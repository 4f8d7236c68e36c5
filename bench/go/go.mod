module mspagent/bench

go 1.22
