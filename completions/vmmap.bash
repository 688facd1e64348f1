# bash completion for vmmap                                -*- shell-script -*-
# Installed as .../bash-completion/completions/vmmap.

_vmmap()
{
    local cur prev words cword
    _init_completion || return

    local globals='-j --json -p --pretty -q --quiet -i --interactive -V --version -h --help --usage'
    local commands='show translate lookup diff validate capture vring mem import shell batch help version'
    local buses='mmio pio virtio-ccw fast-mmio'

    # Find the command word and the positional arguments after it.
    local i cmd='' cmd_index=0
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -*) ;;
            *) cmd=${words[i]}; cmd_index=$i; break ;;
        esac
    done

    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$globals" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    local profiles='vhost-kernel vhost-user vhost-user-slots kvm dpdk spdk'
    local types='net blk scsi fs vsock gpio i2c rng'
    case $prev in
        --from|--by) COMPREPLY=($(compgen -W 'gpa uaddr' -- "$cur")); return ;;
        --profile|-P) COMPREPLY=($(compgen -W "$profiles" -- "$cur")); return ;;
        --type) COMPREPLY=($(compgen -W "$types" -- "$cur")); return ;;
        --device) COMPREPLY=($(compgen -W 'net blk none' -- "$cur")); return ;;
        --value|--max-pieces|--max-slots|--timeout|--updates|--sessions|--queues|--capacity|--cid|--settle|--snapshot-bytes|--bytes|--chains) return ;;
        --listen|--connect|--batch|--record|--replay|--forward|--forward-listen) _filedir; return ;;
        -o|--output) _filedir json; return ;;
        --svg) _filedir svg; return ;;
    esac
    case $cur in
        --from=*) COMPREPLY=($(compgen -W 'gpa uaddr' -- "${cur#--from=}")); return ;;
        --by=*) COMPREPLY=($(compgen -W 'gpa uaddr' -- "${cur#--by=}")); return ;;
        --profile=*) COMPREPLY=($(compgen -W "$profiles" -- "${cur#--profile=}")); return ;;
        --type=*) COMPREPLY=($(compgen -W "$types" -- "${cur#--type=}")); return ;;
        --device=*) COMPREPLY=($(compgen -W 'net blk none' -- "${cur#--device=}")); return ;;
    esac

    local opts="-j --json -p --pretty -q --quiet -h --help --usage"
    [[ $cmd == show ]] && opts+=" --by --map --svg"
    [[ $cmd == diff ]] && opts+=" --layout"
    [[ $cmd == lookup ]] && opts+=" --value"
    [[ $cmd == translate ]] && opts+=" --from --max-pieces --batch"
    [[ $cmd == validate ]] && opts+=" --profile --max-slots --strict"
    [[ $cmd == capture ]] && opts+=" --listen --connect --output --timeout --updates --no-mem-slots --max-slots --follow --keep-listening --sessions --record --replay --forward --forward-listen --no-backend-channel --type --queues --capacity --cid --no-packed --settle --snapshot-bytes"
    [[ $cmd == vring ]] && opts+=" --device --bytes --chains"
    [[ $cmd == mem ]] && opts+=" --from"
    [[ $cmd == import ]] && opts+=" --output --timeout"
    [[ $cmd == batch ]] && opts+=" --force"
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi

    # Count positionals already given after the command (skip option values).
    local npos=0 file=''
    for ((i = cmd_index + 1; i < cword; i++)); do
        case ${words[i]} in
            --from|--by|--svg|--value|--max-pieces|--batch|--profile|-P|--max-slots|--listen|--connect|-o|--output|--timeout|--updates|--sessions|--record|--replay|--forward|--forward-listen|--type|--queues|--capacity|--cid|--settle|--snapshot-bytes|--device|--bytes|--chains) ((i++)) ;;
            -*) ;;
            *) ((npos == 0)) && file=${words[i]}; ((npos++)) ;;
        esac
    done

    case $cmd:$npos in
        show:0|translate:0|lookup:0|validate:0|diff:0|diff:1|vring:0|mem:0)
            _filedir json
            ;;
        shell:*)
            _filedir json
            ;;
        batch:0)
            _filedir
            ;;
        import:0)
            COMPREPLY=($(compgen -W 'qemu dpdk-log' -- "$cur"))
            ;;
        import:1)
            _filedir
            ;;
        help:0)
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
            ;;
        lookup:1)
            # Offer the buses the file really has, asking vmmap itself.
            local have
            have=$(vmmap -j show "$file" 2>/dev/null |
                   grep -o '"buses":{.*' | grep -oE '"(mmio|pio|virtio-ccw|fast-mmio)":\[' |
                   tr -d '":[')
            COMPREPLY=($(compgen -W "${have:-$buses}" -- "$cur"))
            ;;
    esac
} &&
    complete -F _vmmap vmmap
