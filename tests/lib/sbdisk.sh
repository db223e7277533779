# Secure Boot test disks made by hand, rootless, the way
# /work/shared/notes/secureboot-tpm-facts.md verified them (mkimage makes no
# UKIs yet): our own PK/KEK/db, a UKI from systemd-stub with objcopy, both
# it and systemd-boot signed with db, on a FAT32 ESP in a GPT disk.
# Source after testlib.sh; needs openssl, efitools, sbsigntool, binutils,
# sfdisk, dosfstools, mtools, systemd-boot-efi.
SB_STUB=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
SB_SDBOOT=/usr/lib/systemd/boot/efi/systemd-bootx64.efi
SB_GUID=6d6b696d-6167-6500-7465-737400000001 # the signature lists' owner

# sb_keys DIR: DIR/{PK,KEK,db}.{key,crt,auth}; PK signs PK and KEK, KEK signs db.
sb_keys() {
        local d=$1 n
        mkdir -p "$d"
        for n in PK KEK db; do
                openssl req -new -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=mkimage test $n/" \
                        -keyout "$d/$n.key" -out "$d/$n.crt" 2>/dev/null &&
                        cert-to-efi-sig-list -g $SB_GUID "$d/$n.crt" "$d/$n.esl" >/dev/null || return 1
        done
        sign-efi-sig-list -g $SB_GUID -k "$d/PK.key" -c "$d/PK.crt" PK "$d/PK.esl" "$d/PK.auth" >/dev/null &&
                sign-efi-sig-list -g $SB_GUID -k "$d/PK.key" -c "$d/PK.crt" KEK "$d/KEK.esl" "$d/KEK.auth" >/dev/null &&
                sign-efi-sig-list -g $SB_GUID -k "$d/KEK.key" -c "$d/KEK.crt" db "$d/db.esl" "$d/db.auth" >/dev/null
}

# sb_sign KEYDIR IN OUT: IN signed with db (sbsign's "gaps between PE/COFF
# sections" warning on the stub and systemd-boot is harmless)
sb_sign() { sbsign --key "$1/db.key" --cert "$1/db.crt" --output "$3" "$2" >/dev/null 2>&1; }

# sb_uki OUT VMLINUZ INITRD CMDLINE: an unsigned UKI. The sections go 4 KiB
# aligned after the stub's last one (its ImageBase is 0, so VMA = RVA), in
# the order .osrel .cmdline .linux .initrd.
sb_uki() {
        local out=$1 d end=0 idx name size vma args=() sec file
        d=$(mktemp -d "$T/uki.XXXXXX")
        printf 'ID=mkimage-test\nVERSION_ID=1\n' >"$d/os-release"
        printf '%s' "$4" >"$d/cmdline"
        while read -r idx name size vma _; do
                [[ "$idx" =~ ^[0-9]+$ ]] && [ $((0x$vma + 0x$size)) -gt $end ] && end=$((0x$vma + 0x$size))
        done < <(objdump -h "$SB_STUB")
        for sec in .osrel="$d/os-release" .cmdline="$d/cmdline" .linux="$2" .initrd="$3"; do
                file=${sec#*=} end=$(((end + 4095) / 4096 * 4096))
                args+=(--add-section "$sec" --change-section-vma "${sec%%=*}=$(printf '0x%x' $end)")
                end=$((end + $(stat -c %s "$file")))
        done
        objcopy "${args[@]}" "$SB_STUB" "$out"
}

# sb_disk DISK KEYDIR UKI: a 72 MiB GPT disk, p1 a 64 MiB FAT32 ESP holding
# EFI/BOOT/BOOTX64.EFI (systemd-boot signed with db), EFI/Linux/t+3.efi (UKI
# as given), loader/loader.conf (`timeout 0`, `secure-boot-enroll force`)
# and loader/keys/auto/{PK,KEK,db}.auth. Prints the ESP's offset in bytes.
sb_disk() {
        local disk=$1 keys=$2 off=$((1 << 20)) n
        rm -f "$disk"
        truncate -s 72M "$disk"
        printf 'label: gpt\nstart=2048, size=64M, type=U, name=esp\n' | sfdisk -q "$disk" &&
                mkfs.vfat -F 32 -n ESP --offset 2048 "$disk" $((64 * 1024)) >/dev/null 2>&1 &&
                mmd -i "$disk@@$off" ::/EFI ::/EFI/BOOT ::/EFI/Linux ::/loader ::/loader/keys ::/loader/keys/auto &&
                sb_sign "$keys" "$SB_SDBOOT" "$keys/sdboot.efi" &&
                mcopy -i "$disk@@$off" "$keys/sdboot.efi" ::/EFI/BOOT/BOOTX64.EFI &&
                mcopy -i "$disk@@$off" "$3" ::/EFI/Linux/t+3.efi &&
                printf 'timeout 0\nsecure-boot-enroll force\n' | mcopy -i "$disk@@$off" - ::/loader/loader.conf || return 1
        for n in PK KEK db; do mcopy -i "$disk@@$off" "$keys/$n.auth" ::/loader/keys/auto/$n.auth || return 1; done
        echo $off
}
