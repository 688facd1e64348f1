# fish completion for vmmap

set -l commands show translate lookup diff validate capture vring mem import shell batch help version

function __vmmap_buses
    set -l tokens (commandline -opc)
    set -l file
    for i in (seq 2 (count $tokens))
        switch $tokens[$i]
            case '-*' lookup
            case '*'
                set file $tokens[$i]
                break
        end
    end
    set -l have (vmmap -j show $file 2>/dev/null | string match -ar '"(mmio|pio|virtio-ccw|fast-mmio)":\[' | string match -r '^[a-z-]+$')
    if test (count $have) -eq 0
        set have mmio pio virtio-ccw fast-mmio
    end
    printf '%s\n' $have
end

function __vmmap_lookup_wants_bus
    set -l tokens (commandline -opc)
    set -l npos 0
    set -l seen 0
    for t in $tokens[2..-1]
        if test $seen -eq 1
            string match -q -- '-*' $t; or set npos (math $npos + 1)
        else if test "$t" = lookup
            set seen 1
        end
    end
    test $seen -eq 1 -a $npos -eq 1
end

complete -c vmmap -f
complete -c vmmap -s j -l json -d 'Print one JSON document'
complete -c vmmap -s p -l pretty -d 'Indent the JSON output (implies --json)'
complete -c vmmap -s q -l quiet -d 'Print no result; the exit status answers'
complete -c vmmap -s V -l version -n "not __fish_seen_subcommand_from $commands" -d 'Print the version'
complete -c vmmap -s h -l help -d 'Print help'

complete -c vmmap -n "not __fish_seen_subcommand_from $commands" -a show -d 'Print regions, holes and bus registrations'
complete -c vmmap -n "not __fish_seen_subcommand_from $commands" -a translate -d 'Translate addresses region by region'
complete -c vmmap -n "not __fish_seen_subcommand_from $commands" -a lookup -d 'List the registrations an I/O access reaches'
complete -c vmmap -n "not __fish_seen_subcommand_from $commands" -a diff -d 'Changes as REM_MEM_REG/ADD_MEM_REG messages'
complete -c vmmap -n "not __fish_seen_subcommand_from $commands" -a validate -d 'Check overlaps and vhost/KVM limits'
complete -c vmmap -n "not __fish_seen_subcommand_from $commands" -a capture -d 'Record the table a vhost-user frontend sends'
complete -c vmmap -n "not __fish_seen_subcommand_from $commands" -a vring -d "Decode a capture's virtqueues"
complete -c vmmap -n "not __fish_seen_subcommand_from $commands" -a mem -d 'Guest memory as a hexdump'
complete -c vmmap -n "not __fish_seen_subcommand_from $commands" -a import -d "QEMU's or DPDK's view of guest memory"
complete -c vmmap -n "not __fish_seen_subcommand_from $commands" -a shell -d 'Interactive shell with named tables'
complete -c vmmap -n "not __fish_seen_subcommand_from $commands" -a batch -d 'The shell commands from a file'
complete -c vmmap -n "not __fish_seen_subcommand_from $commands" -a help -d 'The command list, or the options of one'
complete -c vmmap -n "not __fish_seen_subcommand_from $commands" -a version -d 'Version and build features'
complete -c vmmap -n "__fish_seen_subcommand_from help" -x -a "$commands"
complete -c vmmap -s i -l interactive -n "not __fish_seen_subcommand_from $commands" -d 'Start the shell'
complete -c vmmap -n "__fish_seen_subcommand_from batch" -s f -l force -d 'Go on after a failing line'
complete -c vmmap -n "__fish_seen_subcommand_from batch" -F

complete -c vmmap -n "__fish_seen_subcommand_from $commands" -k -a '(__fish_complete_suffix .json)'
complete -c vmmap -n "__fish_seen_subcommand_from lookup" -l value -x -d 'The value written'
complete -c vmmap -n "__fish_seen_subcommand_from diff" -l layout -d 'Compare guest range, size and mmap_offset only'
complete -c vmmap -n "__fish_seen_subcommand_from show" -l by -x -a 'gpa uaddr' -d 'Order of the regions'
complete -c vmmap -n "__fish_seen_subcommand_from show" -l map -d 'Draw the address spaces'
complete -c vmmap -n "__fish_seen_subcommand_from show" -l svg -r -F -d 'Write the picture as an SVG'
complete -c vmmap -n "__fish_seen_subcommand_from translate" -l from -x -a 'gpa uaddr' -d 'Address space of ADDR'
complete -c vmmap -n "__fish_seen_subcommand_from translate" -l max-pieces -x -d 'Fail above N pieces'
complete -c vmmap -n "__fish_seen_subcommand_from translate" -l batch -r -F -d 'Read queries from a file'
complete -c vmmap -n "__fish_seen_subcommand_from vring" -l device -x -a 'net blk none' -d "Decode buffers as this device's"
complete -c vmmap -n "__fish_seen_subcommand_from vring" -l bytes -x -d 'Show up to N bytes of each buffer'
complete -c vmmap -n "__fish_seen_subcommand_from vring" -l chains -x -d 'List at most N chains of each kind'
complete -c vmmap -n "__fish_seen_subcommand_from mem" -l from -x -a 'gpa uaddr' -d 'Address space of ADDR'
complete -c vmmap -n "__fish_seen_subcommand_from import; and not __fish_seen_subcommand_from qemu dpdk-log" -x -a 'qemu dpdk-log' -d 'Source'
complete -c vmmap -n "__fish_seen_subcommand_from import" -s o -l output -r -F -d 'Write the document to a file'
complete -c vmmap -n "__fish_seen_subcommand_from import" -l timeout -x -d 'Give up when QEMU does not answer within seconds'
complete -c vmmap -n "__vmmap_lookup_wants_bus" -x -a '(__vmmap_buses)' -d 'Bus'
complete -c vmmap -n "__fish_seen_subcommand_from validate" -s P -l profile -x -a 'vhost-kernel vhost-user vhost-user-slots kvm dpdk spdk' -d 'Also check the limits of a profile'
complete -c vmmap -n "__fish_seen_subcommand_from validate" -l max-slots -x -d 'Region limit for vhost-user-slots'
complete -c vmmap -n "__fish_seen_subcommand_from validate" -l strict -d 'Fail on warnings too'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l listen -r -F -d 'Create the socket and wait for a frontend'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l connect -r -F -d 'Connect to a listening frontend'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -s o -l output -r -F -d 'Write the capture to a file'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l timeout -x -d 'Stop after seconds'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l updates -x -d 'Stop after N table changes'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l settle -x -d 'Stop once table and rings are there and quiet for seconds'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l snapshot-bytes -x -d 'Put up to N bytes of each ring buffer in the snapshot'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l no-mem-slots -d 'Do not offer CONFIGURE_MEM_SLOTS'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l max-slots -x -d 'Answer GET_MAX_MEM_SLOTS with N'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l follow -d 'Print each message as it arrives'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l keep-listening -d 'Wait for the next frontend after one leaves'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l sessions -x -d 'Stop after N sessions'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l record -r -F -d 'Also write every message to a file'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l replay -r -F -d 'Read the messages from a recording'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l forward -r -F -d 'Stand between the frontend and its backend at this socket'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l forward-listen -r -F -d 'Wait for the backend to connect on this socket'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l no-backend-channel -d 'Pass the backend channel socket through unrelayed'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l type -x -a 'net blk scsi fs vsock gpio i2c rng' -d 'Be a backend of this device type'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l queues -x -d 'Answer GET_QUEUE_NUM with N'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l capacity -x -d 'blk: the disk size in GET_CONFIG'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l cid -x -d 'vsock: the guest CID in GET_CONFIG'
complete -c vmmap -n "__fish_seen_subcommand_from capture" -l no-packed -d 'Do not offer packed rings'
