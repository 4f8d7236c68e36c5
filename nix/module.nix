# NixOS module `services.msp-agent` (runtime.md §10.1–§10.5).
{ config, lib, pkgs, ... }:

let
  cfg = config.services.msp-agent;
  inherit (lib) mkEnableOption mkOption mkIf mkMerge types;
  # StateDirectory= manages directories below /var/lib only: elsewhere the module creates the
  # directory (tmpfiles) and makes it writable under ProtectSystem=strict (ReadWritePaths=).
  underVarLib = lib.hasPrefix "/var/lib/" cfg.stateDir;
  # The unit's arguments; update_daemon's runtime drop-in repeats them after a release's program.
  execArgs = "run --config ${cfg.configFile} --state-dir ${cfg.stateDir}";
  # msp-agent releases installed by update_daemon (agent-install's StateDirectory=, root, 0755).
  releasesDir = "/var/lib/msp-agent-releases";
  # update_daemon's runtime override of the agent unit's ExecStart (in /run: gone at reboot).
  dropinDir = "/run/systemd/system/msp-agent.service.d";
  stateDirectory =
    if underVarLib then {
      StateDirectory = lib.removePrefix "/var/lib/" cfg.stateDir;
      StateDirectoryMode = "0700";
    } else {
      ReadWritePaths = [ cfg.stateDir ];
    };

  # ---- The gRPC hub (grpc_hub_enabled through MSP_AGENT_GRPC_HUB; its port the only socket the
  # ---- unit may bind). The whole of grpcHub's effect.
  grpcHubBlock = mkIf cfg.grpcHub.enable {
    systemd.services.msp-agent.environment.MSP_AGENT_GRPC_HUB = "1";
    systemd.services.msp-agent.serviceConfig.SocketBindAllow = "tcp:${toString cfg.grpcHub.port}";
    networking.firewall.allowedTCPPorts = lib.optional cfg.grpcHub.openFirewall cfg.grpcHub.port;
  };
in
{
  options.services.msp-agent = {
    enable = mkEnableOption "msp-agent, the compliance and self-healing agent";
    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { withHub = cfg.grpcHub.enable; };
      description = "The msp-agent package.";
    };
    configFile = mkOption {
      type = types.path;
      default = "/var/lib/msp/config.yaml";
      description = "Config file passed as --config.";
    };
    stateDir = mkOption {
      type = types.str;
      default = "/var/lib/msp";
      description = ''
        State directory (absolute), passed as --state-dir (it overrides state_dir in the config).
        Below /var/lib it is the unit's StateDirectory=; elsewhere the module creates it (0700,
        tmpfiles) and adds it to ReadWritePaths=.
      '';
    };
    user = mkOption { type = types.str; default = "msp-agent"; description = "Service user."; };
    group = mkOption { type = types.str; default = "msp-agent"; description = "Service group."; };
    replaceGoDaemon = mkOption {
      type = types.bool;
      default = true;
      description = "Disable the Go daemon's units so the two never share the state directory.";
    };
    grpcHub = {
      enable = mkEnableOption "the gRPC hub for workstation agents (opens a listening socket; the package gains the hub extra; set grpc_port in config.yaml to the same port)";
      port = mkOption { type = types.port; default = 50051; description = "Hub port."; };
      openFirewall = mkOption { type = types.bool; default = false; description = "Open the hub port."; };
    };
    privilegedActions = mkOption {
      type = types.listOf types.str;
      default = [ "journal-vacuum" "restart-journald" "nix-gc" "start-backup" "renew-certificates"
                  "nft-list-ruleset" "wg-show" "nixos-rebuild-test" "agent-install"
                  "agent-switch" "agent-rollback" "watchdog" ];
      description = ''
        Privileged helper actions the agent may trigger (msp-agent-priv@<action>.service;
        the helper's compiled-in allowlist is agent.priv.schema.ACTIONS). "watchdog" also
        enables the timer that keeps or rolls back a rebuild or an update on trial.
        "agent-install", "agent-switch" and "agent-rollback" serve update_daemon (refused
        without releaseKey).
      '';
    };
    releaseKey = mkOption {
      type = types.str;
      default = "";
      description = ''
        The release signer's Ed25519 public key (64 hex; the same as release_public_key in
        config.yaml). Without it update_daemon is refused. On NixOS an update_daemon release runs
        as a runtime override of the unit's ExecStart (a drop-in in ${dropinDir}) until the next
        reboot or nixos-rebuild; nixos_rebuild is the durable path.
      '';
    };
    watchdogSec = mkOption { type = types.int; default = 120; description = "WatchdogSec."; };
    extraEnvironment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      description = "Extra environment variables (runtime.md §2.4).";
    };
  };

  config = mkIf cfg.enable (mkMerge [ grpcHubBlock {
    assertions = [{
      assertion = lib.hasPrefix "/" cfg.stateDir && cfg.stateDir != "/var/lib" && cfg.stateDir != "/var/lib/";
      message = "services.msp-agent.stateDir must be an absolute path other than /var/lib (it is ${cfg.stateDir}).";
    }];

    users.users.${cfg.user} = {
      isSystemUser = true;
      group = cfg.group;
      extraGroups = [ "systemd-journal" ];
    };
    users.groups.${cfg.group} = { };

    systemd.services.msp-agent = {
      description = "msp-agent compliance and self-healing agent";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" "msp-auto-provision.service" ];
      wants = [ "network-online.target" ];
      conflicts = [ "appliance-daemon.service" ];
      startLimitIntervalSec = 300;
      startLimitBurst = 5;
      environment = { PYTHONDONTWRITEBYTECODE = "1"; } // cfg.extraEnvironment;
      serviceConfig = {
        Type = "notify";
        NotifyAccess = "main";
        ExecStart = "${cfg.package}/bin/msp-agent ${execArgs}";
        ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
        Restart = "always";
        RestartSec = "10s";
        WatchdogSec = "${toString cfg.watchdogSec}s";
        TimeoutStartSec = "120s";
        TimeoutStopSec = "30s";
        KillMode = "mixed";
        User = cfg.user;
        Group = cfg.group;
        SupplementaryGroups = [ "systemd-journal" ];
        RuntimeDirectory = "msp-agent";
        RuntimeDirectoryMode = "0750";
        WorkingDirectory = cfg.stateDir;
        UMask = "0077";
        LimitNOFILE = 4096;
        LimitCORE = 0;
        MemoryHigh = "192M";
        MemoryMax = "256M";
        TasksMax = 64;
        CPUWeight = 50;
        NoNewPrivileges = true;
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        PrivateIPC = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        ProcSubset = "all";
        RestrictAddressFamilies = "AF_UNIX AF_INET AF_INET6 AF_NETLINK";
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" "~@privileged @resources" ];
        SystemCallErrorNumber = "EPERM";
        RemoveIPC = true;
        KeyringMode = "private";
        DevicePolicy = "closed";
        SocketBindDeny = "any";
      } // stateDirectory;
    };

    systemd.tmpfiles.rules =
      lib.optional (!underVarLib) "d ${cfg.stateDir} 0700 ${cfg.user} ${cfg.group} -";

    # --- the privileged helper (runtime.md §10.4): privilegedActions -----------------------
    # One root-owned oneshot per action; the helper refuses any action not in this list (and
    # has its own allowlist compiled in). Only the paths an action needs are writable, except
    # for the two that activate a NixOS generation (nixos-rebuild-test, watchdog).
    systemd.services."msp-agent-priv@" = {
      description = "msp-agent privileged helper: %i";
      path = [ config.systemd.package config.nix.package config.system.build.nixos-rebuild
               pkgs.nftables pkgs.wireguard-tools ];
      environment = {
        PYTHONDONTWRITEBYTECODE = "1";
        MSP_AGENT_PRIV_ROOT = "/run/msp-agent/priv";
        MSP_AGENT_STATE_DIR = cfg.stateDir;
        MSP_AGENT_PRIV_ACTIONS = lib.concatStringsSep " " cfg.privilegedActions;
        MSP_AGENT_NIXOS = "1";
        MSP_AGENT_RELEASES = releasesDir;
        MSP_AGENT_RELEASE_KEY = cfg.releaseKey;
        MSP_AGENT_EXEC_ARGS = execArgs;
        MSP_AGENT_DROPIN = "${dropinDir}/50-msp-release.conf";
      };
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${cfg.package}/bin/msp-agent-priv %i";
        User = "root";
        StateDirectory = "msp-agent-priv";
        StateDirectoryMode = "0755";
        RuntimeMaxSec = "1800";
        TimeoutStartSec = "1800";
        UMask = "0022";
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ReadWritePaths = [ "-/run/msp-agent/priv" "/var/lib/msp-agent-priv" "-/var/log/journal"
                           "-/nix/var" "-/nix/store" "-/var/lib/acme" ];
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" "AF_NETLINK" ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" ];
        SystemCallErrorNumber = "EPERM";
        KeyringMode = "private";
      };
    };
    # Activating a generation writes /etc, /boot, /run and the profiles: no file-system sandbox.
    systemd.services."msp-agent-priv@nixos-rebuild-test" = {
      overrideStrategy = "asDropin";
      serviceConfig = { ProtectSystem = lib.mkForce false; PrivateDevices = lib.mkForce false; };
    };
    # update_daemon: agent-install writes the releases, agent-switch and agent-rollback the
    # runtime drop-in (the watchdog, unsandboxed, may do both).
    systemd.services."msp-agent-priv@agent-install" = {
      overrideStrategy = "asDropin";
      serviceConfig.StateDirectory = lib.removePrefix "/var/lib/" releasesDir;
    };
    systemd.services."msp-agent-priv@agent-switch" = {
      overrideStrategy = "asDropin";
      serviceConfig.ReadWritePaths = [ "/run/systemd/system" ];
    };
    systemd.services."msp-agent-priv@agent-rollback" = {
      overrideStrategy = "asDropin";
      serviceConfig.ReadWritePaths = [ "/run/systemd/system" ];
    };
    systemd.services."msp-agent-priv@watchdog" = {
      overrideStrategy = "asDropin";
      serviceConfig = { ProtectSystem = lib.mkForce false; PrivateDevices = lib.mkForce false; };
    };
    systemd.timers.msp-agent-priv-watchdog = lib.mkIf (lib.elem "watchdog" cfg.privilegedActions) {
      description = "msp-agent update and rebuild watchdog";
      wantedBy = [ "timers.target" ];
      timerConfig = { OnBootSec = "1min"; OnUnitActiveSec = "1min"; AccuracySec = "10s";
                      Unit = "msp-agent-priv@watchdog.service"; };
    };
    security.polkit.enable = true;
    security.polkit.extraConfig = ''
      polkit.addRule(function(action, subject) {
        if (action.id == "org.freedesktop.systemd1.manage-units" &&
            subject.user == "${cfg.user}" && action.lookup("verb") == "start") {
          var unit = action.lookup("unit");
          if (typeof unit === "string" && /^msp-agent-priv@[A-Za-z0-9-]+\.service$/.test(unit)) {
            return polkit.Result.YES;
          }
        }
      });
    '';

    systemd.services.appliance-daemon.enable = lib.mkIf cfg.replaceGoDaemon false;
    systemd.services.appliance-daemon-watchdog.enable = lib.mkIf cfg.replaceGoDaemon false;
    systemd.services.msp-daemon-zombie-watch.enable = lib.mkIf cfg.replaceGoDaemon false;
    systemd.timers.msp-daemon-zombie-watch.enable = lib.mkIf cfg.replaceGoDaemon false;
    # The image's rebuild watchdog reads the same markers in another layout and deletes them;
    # the helper's watchdog (msp-agent-priv-watchdog.timer) replaces it.
    systemd.services.msp-rebuild-watchdog.enable = lib.mkIf cfg.replaceGoDaemon false;
    systemd.timers.msp-rebuild-watchdog.enable = lib.mkIf cfg.replaceGoDaemon false;
  } ]);
}
