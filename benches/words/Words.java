import java.util.Locale;
import java.util.function.Consumer;

/**
 * What a word is for the JVM jobs of scripts/bench-vs-flink.sh (Flink's and
 * Storm's word counts share this file): a maximal run of ASCII letters,
 * lowercased. The generator writes no other word characters, so on its
 * files this is Squall's split_words rule (maximal alphanumeric runs).
 */
public final class Words {
    private Words() {}

    private static boolean letter(char c) {
        char l = (char) (c | 0x20);
        return l >= 'a' && l <= 'z';
    }

    /** Passes each word of line, in order, to word. */
    public static void split(String line, Consumer<String> word) {
        int n = line.length(), i = 0;
        while (i < n) {
            while (i < n && !letter(line.charAt(i))) i++;
            int s = i;
            while (i < n && letter(line.charAt(i))) i++;
            if (i > s) word.accept(line.substring(s, i).toLowerCase(Locale.ROOT));
        }
    }
}
