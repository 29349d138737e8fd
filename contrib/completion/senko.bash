# bash completion for senko(1) and senkod(8).
#
# Installed by `make install` as PREFIX/share/bash-completion/completions/
# senko and .../senkod.  Commands and their options come from the installed
# program itself (`senko help`, `senko help COMMAND`), so they never fall
# behind it; device names come from the configuration named by -c/--config
# on the command line, or /etc/senko/senko.conf.

# _senko_reply COMPGEN-ARGS...: COMPREPLY from compgen, one word a line
# (file names with spaces stay whole).
_senko_reply()
{
	mapfile -t COMPREPLY < <(compgen "$@")
}

# _senko_config WORDS...: the configuration file the command line names.
_senko_config()
{
	local i conf=/etc/senko/senko.conf
	for ((i = 1; i < $#; i++)); do
		case ${!i} in
		-c | --config)
			((i++))
			# bash splits "--config=FILE" at the "=" (COMP_WORDBREAKS).
			[ "${!i}" = = ] && ((i++))
			conf=${!i}
			;;
		--config=*) conf=${!i#--config=} ;;
		-c?*) conf=${!i#-c} ;;
		esac
	done
	printf '%s\n' "${conf/#\~/$HOME}"
}

# _senko_sections KIND FILE: the names of its [KIND NAME] sections
# (KIND is device or source).  Reads the file only: no validation.
_senko_sections()
{
	[ -r "$2" ] || return 0
	sed -n "s/^[[:space:]]*\\[[[:space:]]*$1[[:space:]]\\+\\([^][:space:]]*\\)[[:space:]]*\\].*/\\1/p" "$2"
}

# _senko_commands PROGRAM: the commands `PROGRAM help` lists.
_senko_commands()
{
	"$1" help 2>/dev/null | sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'
}

# _senko_options PROGRAM [COMMAND]: the long options its help text lists
# (lines "  -x, --name" or "  --name").
_senko_options()
{
	if [ -n "${2-}" ]; then
		"$1" help "$2" 2>/dev/null
	else
		"$1" --help 2>/dev/null
	fi | sed -nE 's/^  (-[[:alnum:]], )?(--[a-z][a-z-]*).*/\2/p' | sort -u
}

_senko()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local prog=${COMP_WORDS[0]} i cmd='' cmd_at=0 nargs conf
	COMPREPLY=()

	case $prev in
	-c | --config | =)
		_senko_reply -f -- "$cur"
		return 0
		;;
	esac
	# The command is the first word that is not a global option.
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-c | --config)
			((i++))
			[ "${COMP_WORDS[i]}" = = ] && ((i++))
			;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]} cmd_at=$i; break ;;
		esac
	done
	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			_senko_reply -W "$(_senko_options "$prog") -c -v -q -h -V" -- "$cur"
		else
			_senko_reply -W "$(_senko_commands "$prog")" -- "$cur"
		fi
		return 0
	fi
	if [[ $cur == -* ]]; then
		_senko_reply -W "$(_senko_options "$prog" "$cmd") --help" -- "$cur"
		return 0
	fi
	# Arguments so far, options not counted.
	nargs=0
	for ((i = cmd_at + 1; i < COMP_CWORD; i++)); do
		[[ ${COMP_WORDS[i]} == -* ]] || ((nargs++))
	done
	conf=$(_senko_config "${COMP_WORDS[@]:0:COMP_CWORD}")
	case $cmd in
	check | sync)
		_senko_reply -W "$(_senko_sections device "$conf")" -- "$cur"
		;;
	ls | verify | exec | rollback | pin | unpin)
		[ "$nargs" = 0 ] &&
			_senko_reply -W "$(_senko_sections device "$conf")" -- "$cur"
		;;
	run)
		if [ "$nargs" = 0 ]; then
			_senko_reply -W "$(_senko_sections device "$conf")" -- "$cur"
		elif [ "$nargs" = 1 ]; then
			_senko_reply -f -- "$cur"
		fi
		;;
	reset)
		if [ "$nargs" = 0 ]; then
			_senko_reply -W "$(_senko_sections device "$conf")" -- "$cur"
		elif [ "$nargs" = 1 ]; then
			_senko_reply -W "soft hard" -- "$cur"
		fi
		;;
	config)
		[ "$nargs" = 0 ] && _senko_reply -W "check" -- "$cur"
		;;
	rollout)
		if [ "$nargs" = 0 ]; then
			_senko_reply -W "resume $(_senko_sections source "$conf")" \
			    -- "$cur"
		elif [ "$nargs" = 1 ] && [ "${COMP_WORDS[COMP_CWORD - 1]}" = resume ]; then
			_senko_reply -W "$(_senko_sections source "$conf")" -- "$cur"
		fi
		;;
	help)
		[ "$nargs" = 0 ] &&
			_senko_reply -W "$(_senko_commands "$prog")" -- "$cur"
		;;
	hash)
		_senko_reply -f -- "$cur"
		;;
	esac
	return 0
}

_senkod()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	COMPREPLY=()
	case $prev in
	-c | --config | =)
		_senko_reply -f -- "$cur"
		return 0
		;;
	esac
	_senko_reply -W "$(_senko_options "${COMP_WORDS[0]}")" -- "$cur"
	return 0
}

complete -F _senko -o filenames senko
complete -F _senkod -o filenames senkod
