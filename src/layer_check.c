/* Linked with the whole archive of one layer and only the layers below it
 * (src/CMakeLists.txt): it builds only when that layer calls nothing above
 * itself. It is never run. */
int main(void)
{
    return 0;
}
