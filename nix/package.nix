# Nix package for msp-agent, built from source with the C core compiled by Nix and the test suite
# run in the check phase (runtime.md §9). Usage: pkgs.callPackage ./nix/package.nix { }.
{ lib, python3Packages, openssh }:

python3Packages.buildPythonApplication {
  pname = "msp-agent";
  version = "1.0.0";
  pyproject = true;
  src = lib.cleanSource ../.;

  build-system = with python3Packages; [ setuptools wheel cffi ];

  dependencies = with python3Packages; [ uvloop msgspec aiohttp pynacl cffi pyyaml ];

  nativeCheckInputs = (with python3Packages; [
    pytestCheckHook pytest-asyncio pytest-benchmark hypothesis trustme
  ]) ++ [ openssh ];

  # The shared spec vectors live beside the repository; tests that need them are skipped by the
  # check phase's own selection when ../shared is absent.
  pythonImportsCheck = [ "agent" "agent._native" ];

  meta = {
    description = "Compliance and self-healing agent for clinic appliances";
    mainProgram = "msp-agent";
    platforms = lib.platforms.linux;
  };
}
