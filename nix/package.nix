# Nix package for msp-agent, built from source with the C core compiled by Nix and the test suite
# run in the check phase (runtime.md §9). Usage: pkgs.callPackage ./nix/package.nix { }.
# withHub: also the workstation hub's runtime (pyproject's `hub` extra; the module sets it with
# services.msp-agent.grpcHub.enable).
{ lib, python3Packages, openssh, withHub ? false }:

let
  # Exactly pyproject.toml's `hub` extra (tests/foundation/test_packaging.py compares).
  hubDependencies = with python3Packages; [ grpclib protobuf cryptography ];
in
python3Packages.buildPythonApplication {
  pname = "msp-agent";
  version = "1.0.0";
  pyproject = true;
  src = lib.cleanSource ../.;

  build-system = with python3Packages; [ setuptools wheel cffi ];

  # Exactly pyproject.toml's [project] dependencies (tests/foundation/test_packaging.py compares).
  dependencies = with python3Packages; [
    uvloop msgspec aiohttp h11 pynacl cffi pyyaml asyncssh pyspnego
  ] ++ lib.optionals withHub hubDependencies;

  nativeCheckInputs = (with python3Packages; [
    pytestCheckHook pytest-asyncio pytest-benchmark hypothesis trustme
  ]) ++ [ openssh ];

  # ../shared (the spec's vectors and samples, the developer PHI corpus) sits beside the
  # repository, not in this source: --without-shared (tests/sharedswitch.py) deselects every test
  # that reads it and skips collecting the modules that read it on import. Of the rest, the check
  # phase runs the suites that need neither root nor a system sshd, sudo or loop mounts
  # (tests/exec, tests/healing, tests/scan, ...), nor tree-sitter-powershell (tests/runbooks).
  pytestFlagsArray = [
    "--without-shared"
    "tests/phi" "tests/crypto" "tests/rules" "tests/outbox" "tests/l2" "tests/evidence"
    "tests/orders" "tests/logship" "tests/foundation"
  ];
  pythonImportsCheck = [ "agent" "agent._native" ];

  meta = {
    description = "Compliance and self-healing agent for clinic appliances";
    mainProgram = "msp-agent";
    platforms = lib.platforms.linux;
  };
}
