"""The timeouts and recovery rules: every number a procedure waits or counts by."""


class Policy:
    """Timeouts and recovery rules, from the manual's chapter 1 or 2 unless marked as ours.

    Change attributes on `modem.policy` to tune them (tests shorten nothing: they run a fast
    clock instead).
    """

    pwrkey_ms = 2000  # flow chart: keep PWRKEY low 2 s, then pull high
    boot_ms = 20000  # how long to wait for RDY/STATUS/AT after PWRKEY (module boot time)
    powerdown_ms = 12000  # flow chart: after AT+QPOWD=1, cut power after 12 s
    reset_ms = 300  # RESET pin pulse
    at_ms = 60000  # note 1: no final response in 60 s -> reboot
    probe_ms = 500  # ours: one `AT` probe while waiting for the module
    cfun_ms = 15000  # AT+CFUN's maximum response time (3GPP TS 27.007, Quectel's 15 s)
    sim_ms = 20000  # reboot if the SIM is not found in 20 s
    creg_ms = 90000  # reboot if not registered to CS in 90 s
    cgreg_ms = 60000  # go on after 60 s whether PS registered or not
    qiact_ms = 150000  # section 2.2
    qideact_ms = 40000  # section 2.3
    qiopen_ms = 150000  # section 2.4: wait 150 s for +QIOPEN
    qiclose_ms = 10000  # section 2.5 default <timeout>
    qidnsgip_ms = 60000  # section 2.13
    qntp_ms = 125000  # section 2.11
    poll_ms = 1000  # ours: interval of AT+CPIN?/AT+CREG?/AT+CGREG? polls
    deact_tries = 3  # note c: 3 failed deactivations -> reboot
    open_failures = 5  # 5 failed opens -> deactivate and reactivate the context
    restarts = 3  # note 3: after 3 failed restarts the back-off schedule applies
    backoff_ms = (0, 600000, 1800000, 3600000)  # note 3: now, 10 min, 30 min, 1 h (repeats)
    ack_poll_ms = 5000  # TCP maintenance: query the ACK every 5 s ...
    ack_polls = 24  # ... 24 times (two minutes), then the connection is dead
    # Ours: SEND FAIL (the module's send buffer is full) is retried after a pause that
    # doubles from send_pause_ms up to send_pause_max_ms.
    send_pause_ms = 10
    send_pause_max_ms = 500
    dns_cache = 8  # ours: host names kept by getaddrinfo (each for its DNS TTL)
    dns_ttl_max_s = 86400  # ours: a day at most (tick differences are valid for 6 days)
    # Ours, not the manual's: on the first registration failure of a failure streak,
    # cycle the radio (AT+CFUN=4, AT+CFUN=1) instead of rebooting; later failures reboot as
    # the flow chart says.
    radio_cycle = True
